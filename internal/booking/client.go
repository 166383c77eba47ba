package booking

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Client is a person who books (citas_cliente). Phone and email are unique in a tenant once
// normalized: the phone's digits, the email trimmed and in lower case.
type Client struct {
	ID    int64  `json:"id"`
	Name  string `json:"nombre"`
	Phone string `json:"telefono"`
	Email string `json:"email"`
	Notes string `json:"notas"`
	// Appointments counts the client's appointments the caller may see.
	Appointments int64 `json:"citas"`
	// NoShows counts those in state no_asistio.
	NoShows   int64     `json:"inasistencias"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ClientPatch is the input of [CreateClient] and [UpdateClient]; nil fields are left as they are.
// An empty phone or email removes it.
type ClientPatch struct {
	Name  *string `json:"nombre"`
	Phone *string `json:"telefono"`
	Email *string `json:"email"`
	Notes *string `json:"notas"`
}

// Limits of a client's fields, in characters.
const (
	maxClientName  = 200
	maxClientPhone = 50
	maxClientEmail = 254
	maxClientNotes = 2000
)

// Messages of a duplicate client (code "duplicate_client").
const (
	MsgDuplicatePhone = "a client with this phone number already exists"
	MsgDuplicateEmail = "a client with this email already exists"
)

// NormalizePhone returns the digits of a phone number: the key that finds a client by phone.
func NormalizePhone(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// NormalizeEmail returns an email trimmed and in lower case: the key that finds a client by email.
func NormalizeEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// checkText refuses text that PostgreSQL cannot store or that is longer than max characters.
func checkText(field, v string, max int) error {
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return invalidField(field, "must be valid UTF-8 text without NUL characters")
	}
	if utf8.RuneCountInString(v) > max {
		return invalidField(field, "must be at most %d characters", max)
	}
	return nil
}

// checkClientFields validates a client's name, phone and email (trimmed by the caller).
func checkClientFields(nameField, name, phoneField, phone, emailField, email string) error {
	if err := checkText(nameField, name, maxClientName); err != nil {
		return err
	}
	if name == "" {
		return invalidField(nameField, "must be 1-%d characters", maxClientName)
	}
	if err := checkText(phoneField, phone, maxClientPhone); err != nil {
		return err
	}
	if err := checkText(emailField, email, maxClientEmail); err != nil {
		return err
	}
	if email != "" && !strings.Contains(email, "@") {
		return invalidField(emailField, "must be an email address")
	}
	return nil
}

func (p *ClientPatch) trim() {
	for _, s := range []*string{p.Name, p.Phone, p.Email, p.Notes} {
		if s != nil {
			*s = strings.TrimSpace(*s)
		}
	}
}

// canWriteClients reports whether the actor may create, change and merge clients.
func canWriteClients(actor Actor) error {
	if actor.Role != RoleAdmin && actor.Role != RoleReceptionist {
		return forbidden("only admins and receptionists may change clients")
	}
	return nil
}

// clientSelect reads clients with the counts of their appointments the actor may see: $1 is the
// staff member the actor is limited to (0 for none). cond filters citas_cliente c; the page's
// appointments are read in one scan of citas_cita.
func clientSelect(cond, order string) string {
	return `WITH p AS (
		SELECT c.id, c.nombre, c.telefono, c.email, c.notas, c.created_at, c.updated_at FROM citas_cliente c
		WHERE (` + cond + `) AND ($1::bigint = 0 OR EXISTS (SELECT FROM citas_cita v WHERE v.cliente_id = c.id AND v.profesional_id = $1))
		` + order + `
	), n AS (
		SELECT cliente_id, count(*) AS citas, count(*) FILTER (WHERE estado = 'no_asistio') AS inasistencias
		FROM citas_cita WHERE cliente_id IN (SELECT id FROM p) AND ($1::bigint = 0 OR profesional_id = $1)
		GROUP BY cliente_id
	)
	SELECT p.id, p.nombre, p.telefono, p.email, p.notas, coalesce(n.citas, 0), coalesce(n.inasistencias, 0),
		p.created_at, p.updated_at
	FROM p LEFT JOIN n ON n.cliente_id = p.id`
}

func scanClient(row pgx.Row) (Client, error) {
	var c Client
	err := row.Scan(&c.ID, &c.Name, &c.Phone, &c.Email, &c.Notes, &c.Appointments, &c.NoShows, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

// GetClient returns the client with id and the counts of their appointments. Staff see only clients
// with an appointment of their own, and count only those; others are not found.
func GetClient(ctx context.Context, tx pgx.Tx, actor Actor, id int64) (Client, error) {
	c, err := scanClient(tx.QueryRow(ctx, clientSelect("c.id = $2", ""), actor.ownOnly(), id))
	if err != nil {
		return Client{}, translate(err, fmt.Sprintf("client %d", id))
	}
	return c, nil
}

// CreateClient adds a client (admins and receptionists). A phone or email that another client
// has, once normalized, is an [ErrConflict] with code "duplicate_client".
func CreateClient(ctx context.Context, tx pgx.Tx, actor Actor, in ClientPatch) (Client, error) {
	if err := canWriteClients(actor); err != nil {
		return Client{}, err
	}
	in.trim()
	v := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	name, phone, email, notes := v(in.Name), v(in.Phone), v(in.Email), v(in.Notes)
	if err := checkClientFields("nombre", name, "telefono", phone, "email", email); err != nil {
		return Client{}, err
	}
	if err := checkText("notas", notes, maxClientNotes); err != nil {
		return Client{}, err
	}
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO citas_cliente (nombre, telefono, email, notas) VALUES ($1, $2, $3, $4) RETURNING id`,
		name, phone, email, notes).Scan(&id)
	if err != nil {
		return Client{}, translate(err, "client")
	}
	return GetClient(ctx, tx, actor, id)
}

// UpdateClient changes a client's name, phone, email or notes (admins and receptionists). The
// appointments keep the name, phone and email they were booked with.
func UpdateClient(ctx context.Context, tx pgx.Tx, actor Actor, id int64, in ClientPatch) (Client, error) {
	if err := canWriteClients(actor); err != nil {
		return Client{}, err
	}
	in.trim()
	cur, err := GetClient(ctx, tx, actor, id)
	if err != nil {
		return Client{}, err
	}
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&cur.Name, in.Name)
	set(&cur.Phone, in.Phone)
	set(&cur.Email, in.Email)
	set(&cur.Notes, in.Notes)
	if err := checkClientFields("nombre", cur.Name, "telefono", cur.Phone, "email", cur.Email); err != nil {
		return Client{}, err
	}
	if err := checkText("notas", cur.Notes, maxClientNotes); err != nil {
		return Client{}, err
	}
	_, err = tx.Exec(ctx, `UPDATE citas_cliente SET nombre = $2, telefono = $3, email = $4, notas = $5, updated_at = now()
		WHERE id = $1`, id, cur.Name, cur.Phone, cur.Email, cur.Notes)
	if err != nil {
		return Client{}, translate(err, fmt.Sprintf("client %d", id))
	}
	return GetClient(ctx, tx, actor, id)
}

// ClientFilter selects clients of [ListClients].
type ClientFilter struct {
	// Query matches a substring of the name, phone or email, case-insensitively; a query with
	// digits also matches the phone's digits ("300 111" finds "+57 300-111-2233").
	Query string
	// Limit is the page size: DefaultPageSize when 0, at most MaxPageSize.
	Limit int
	// Cursor continues a listing: the NextCursor of the previous page.
	Cursor string
}

// ClientPage is one page of clients by name.
type ClientPage struct {
	Items []Client `json:"items"`
	// NextCursor fetches the next page; empty on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
}

// ListClients returns a page of clients by name (case-insensitive), then id (keyset pagination).
// Staff see only clients with an appointment of their own.
func ListClients(ctx context.Context, tx pgx.Tx, actor Actor, f ClientFilter) (ClientPage, error) {
	if f.Limit == 0 {
		f.Limit = DefaultPageSize
	}
	if f.Limit < 1 || f.Limit > MaxPageSize {
		return ClientPage{}, invalidField("limit", "must be between 1 and %d", MaxPageSize)
	}
	f.Query = strings.TrimSpace(f.Query)
	if err := checkText("q", f.Query, 200); err != nil {
		return ClientPage{}, err
	}
	var afterName *string
	var afterID int64
	if f.Cursor != "" {
		name, id, err := decodeClientCursor(f.Cursor)
		if err != nil {
			return ClientPage{}, invalidField("cursor", "is not a cursor returned by this API")
		}
		afterName, afterID = &name, id
	}
	pattern := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Query) + "%"
	digits := NormalizePhone(f.Query)
	cond := `($2 = '' OR c.nombre ILIKE $3 OR c.telefono ILIKE $3 OR c.email ILIKE $3
			OR ($4 <> '' AND c.telefono_normalizado LIKE '%' || $4 || '%'))
		AND ($5::text IS NULL OR (lower(c.nombre), c.id) > ($5, $6))`
	rows, err := tx.Query(ctx, clientSelect(cond, "ORDER BY lower(c.nombre), c.id LIMIT $7")+" ORDER BY lower(p.nombre), p.id",
		actor.ownOnly(), f.Query, pattern, digits, afterName, afterID, f.Limit+1)
	if err != nil {
		return ClientPage{}, translate(err, "listing clients")
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Client, error) { return scanClient(r) })
	if err != nil {
		return ClientPage{}, translate(err, "listing clients")
	}
	page := ClientPage{Items: items}
	if len(items) > f.Limit {
		page.Items = items[:f.Limit]
		last := page.Items[f.Limit-1]
		page.NextCursor = encodeClientCursor(strings.ToLower(last.Name), last.ID)
	}
	return page, nil
}

// clientCursor is where a page of clients ends: lower(nombre) as PostgreSQL computes it, and id.
type clientCursor struct {
	Name string `json:"n"`
	ID   int64  `json:"i"`
}

func encodeClientCursor(name string, id int64) string {
	b, _ := json.Marshal(clientCursor{Name: name, ID: id}) // a string and an integer always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeClientCursor(s string) (string, int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", 0, fmt.Errorf("decoding cursor: %w", err)
	}
	var c clientCursor
	if err := json.Unmarshal(b, &c); err != nil {
		return "", 0, fmt.Errorf("decoding cursor: %w", err)
	}
	if c.ID <= 0 || !utf8.ValidString(c.Name) || strings.ContainsRune(c.Name, 0) {
		return "", 0, fmt.Errorf("decoding cursor: bad fields")
	}
	return c.Name, c.ID, nil
}

// ClientAppointments returns a page of the client's appointments, the latest first (keyset
// pagination on inicio, id). Staff see only clients with an appointment of their own, and only
// their own appointments.
func ClientAppointments(ctx context.Context, tx pgx.Tx, actor Actor, id int64, limit int, cursor string) (AppointmentPage, error) {
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return AppointmentPage{}, invalidField("limit", "must be between 1 and %d", MaxPageSize)
	}
	var before *time.Time
	var beforeID int64
	if cursor != "" {
		t, cid, err := decodeCursor(cursor)
		if err != nil {
			return AppointmentPage{}, invalidField("cursor", "is not a cursor returned by this API")
		}
		before, beforeID = &t, cid
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM citas_cliente c WHERE c.id = $2
		AND ($1::bigint = 0 OR EXISTS (SELECT FROM citas_cita v WHERE v.cliente_id = c.id AND v.profesional_id = $1)))`,
		actor.ownOnly(), id).Scan(&exists); err != nil {
		return AppointmentPage{}, translate(err, fmt.Sprintf("client %d", id))
	}
	if !exists {
		return AppointmentPage{}, notFound(fmt.Sprintf("client %d", id))
	}
	rows, err := tx.Query(ctx, `SELECT `+appointmentColumns+` FROM citas_cita
		WHERE cliente_id = $1 AND ($2::bigint = 0 OR profesional_id = $2)
		  AND ($3::timestamptz IS NULL OR (inicio, id) < ($3, $4))
		ORDER BY inicio DESC, id DESC LIMIT $5`, id, actor.ownOnly(), before, beforeID, limit+1)
	if err != nil {
		return AppointmentPage{}, translate(err, "listing the client's appointments")
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Appointment, error) { return scanAppointment(r) })
	if err != nil {
		return AppointmentPage{}, translate(err, "listing the client's appointments")
	}
	page := AppointmentPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := page.Items[limit-1]
		page.NextCursor = encodeCursor(last.Start, last.ID)
	}
	return page, nil
}

// MergeClients merges client fromID into client intoID (admins and receptionists): fromID's
// appointments move to intoID, fromID is deleted, and intoID gains fromID's phone and email where
// it has none and fromID's notes after its own. Merged notes longer than 2000 characters are an
// [ErrConflict] with code "notes_too_long", and nothing changes.
func MergeClients(ctx context.Context, tx pgx.Tx, actor Actor, intoID, fromID int64) (Client, error) {
	if err := canWriteClients(actor); err != nil {
		return Client{}, err
	}
	if fromID <= 0 {
		return Client{}, invalidField("cliente_id", "is required")
	}
	if fromID == intoID {
		return Client{}, invalidField("cliente_id", "cannot merge a client into itself")
	}
	// Lock both in id order, so that two merges of the same pair cannot deadlock.
	rows, err := tx.Query(ctx, `SELECT id, telefono, email, notas FROM citas_cliente WHERE id IN ($1, $2) ORDER BY id FOR UPDATE`, intoID, fromID)
	if err != nil {
		return Client{}, translate(err, "merging clients")
	}
	type contact struct {
		id                  int64
		phone, email, notes string
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (contact, error) {
		var c contact
		err := r.Scan(&c.id, &c.phone, &c.email, &c.notes)
		return c, err
	})
	if err != nil {
		return Client{}, translate(err, "merging clients")
	}
	var into, from *contact
	for i := range found {
		switch found[i].id {
		case intoID:
			into = &found[i]
		case fromID:
			from = &found[i]
		}
	}
	if into == nil {
		return Client{}, notFound(fmt.Sprintf("client %d", intoID))
	}
	if from == nil {
		return Client{}, invalidField("cliente_id", "client %d does not exist", fromID)
	}
	phone, email, notes := into.phone, into.email, into.notes
	if phone == "" {
		phone = from.phone
	}
	if email == "" {
		email = from.email
	}
	switch {
	case from.notes == "":
	case notes == "":
		notes = from.notes
	default:
		notes += "\n\n" + from.notes
	}
	if utf8.RuneCountInString(notes) > maxClientNotes {
		return Client{}, &Error{Kind: ErrConflict, Code: "notes_too_long",
			Message: fmt.Sprintf("the merged notes would exceed %d characters; shorten one client's notes first", maxClientNotes)}
	}
	if _, err := tx.Exec(ctx, `UPDATE citas_cita SET cliente_id = $1 WHERE cliente_id = $2`, intoID, fromID); err != nil {
		return Client{}, translate(err, "moving the appointments")
	}
	if _, err := tx.Exec(ctx, `DELETE FROM citas_cliente WHERE id = $1`, fromID); err != nil {
		return Client{}, translate(err, fmt.Sprintf("client %d", fromID))
	}
	if _, err := tx.Exec(ctx, `UPDATE citas_cliente SET telefono = $2, email = $3, notas = $4, updated_at = now() WHERE id = $1`,
		intoID, phone, email, notes); err != nil {
		return Client{}, translate(err, fmt.Sprintf("client %d", intoID))
	}
	return GetClient(ctx, tx, actor, intoID)
}

// linkClient sets in.ClientID: the client in.ClientID names (whose name, phone and email the
// appointment then copies), else the client of in's phone, else of its email, else, with neither,
// the client of its name that has neither; else a new client. Staff may name only clients with an
// appointment of their own; callers without a member's role (a public booking page) may not name a
// client at all, so that an answer never shows a client they did not type. A client made by a
// concurrent booking is found, not duplicated.
func linkClient(ctx context.Context, tx pgx.Tx, actor Actor, in *NewAppointment) error {
	if in.ClientID != 0 {
		switch actor.Role {
		case RoleAdmin, RoleReceptionist, RoleStaff:
		default:
			return invalidField("cliente_id", "is accepted only from members of the organization")
		}
		err := tx.QueryRow(ctx, `SELECT nombre, telefono, email FROM citas_cliente c WHERE c.id = $2
			AND ($1::bigint = 0 OR EXISTS (SELECT FROM citas_cita v WHERE v.cliente_id = c.id AND v.profesional_id = $1))`,
			actor.ownOnly(), in.ClientID).Scan(&in.ClientName, &in.ClientPhone, &in.ClientEmail)
		if errors.Is(err, pgx.ErrNoRows) {
			return invalidField("cliente_id", "client %d does not exist", in.ClientID)
		}
		if err != nil {
			return translate(err, "reading the client")
		}
		return nil
	}
	phone, email := NormalizePhone(in.ClientPhone), NormalizeEmail(in.ClientEmail)
	find := `SELECT id FROM citas_cliente
		WHERE ($1 <> '' AND telefono_normalizado = $1) OR ($2 <> '' AND email_normalizado = $2)
		   OR ($1 = '' AND $2 = '' AND telefono_normalizado = '' AND email_normalizado = '' AND lower(nombre) = lower($3))
		ORDER BY ($1 <> '' AND telefono_normalizado = $1) DESC, id LIMIT 1`
	err := tx.QueryRow(ctx, `WITH f AS (`+find+`), i AS (
			INSERT INTO citas_cliente (nombre, telefono, email) SELECT $3, $4, $5 WHERE NOT EXISTS (SELECT FROM f)
			ON CONFLICT DO NOTHING RETURNING id)
		SELECT id FROM f UNION ALL SELECT id FROM i`,
		phone, email, in.ClientName, in.ClientPhone, in.ClientEmail).Scan(&in.ClientID)
	if err == nil {
		return nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return translate(err, "linking the client")
	}
	// A concurrent booking made the client after this statement's snapshot: it is visible now.
	if err := tx.QueryRow(ctx, find, phone, email, in.ClientName).Scan(&in.ClientID); err != nil {
		return translate(err, "linking the client")
	}
	return nil
}
