package booking

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Service is what is booked (citas_servicio): a duration, a price and buffers around it.
type Service struct {
	ID          int64  `json:"id"`
	Name        string `json:"nombre"`
	Description string `json:"descripcion"`
	// DurationMinutes is the appointment's length, 5-1440.
	DurationMinutes int `json:"duracion_minutos"`
	// PriceCents is the price in minor units of Currency.
	PriceCents int64 `json:"precio_centavos"`
	// Currency is an ISO 4217 code such as COP.
	Currency string `json:"moneda"`
	// BufferBeforeMinutes and BufferAfterMinutes keep the staff member busy around the
	// appointment (set-up, cleaning), 0-240 each.
	BufferBeforeMinutes int       `json:"buffer_antes_minutos"`
	BufferAfterMinutes  int       `json:"buffer_despues_minutos"`
	Active              bool      `json:"is_active"`
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`
}

// Duration returns the appointment length.
func (s Service) Duration() time.Duration { return time.Duration(s.DurationMinutes) * time.Minute }

// ServicePatch is a change to a service; nil fields stay as they are. CreateService requires Name,
// DurationMinutes and PriceCents.
type ServicePatch struct {
	Name                *string `json:"nombre"`
	Description         *string `json:"descripcion"`
	DurationMinutes     *int    `json:"duracion_minutos"`
	PriceCents          *int64  `json:"precio_centavos"`
	Currency            *string `json:"moneda"`
	BufferBeforeMinutes *int    `json:"buffer_antes_minutos"`
	BufferAfterMinutes  *int    `json:"buffer_despues_minutos"`
	Active              *bool   `json:"is_active"`
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

func (p *ServicePatch) validate() error {
	if p.Name != nil {
		*p.Name = strings.TrimSpace(*p.Name)
		if *p.Name == "" || utf8.RuneCountInString(*p.Name) > 200 {
			return invalidField("nombre", "must be 1-200 characters")
		}
	}
	if p.Description != nil && utf8.RuneCountInString(*p.Description) > 2000 {
		return invalidField("descripcion", "must be at most 2000 characters")
	}
	if p.DurationMinutes != nil && (*p.DurationMinutes < 5 || *p.DurationMinutes > 1440) {
		return invalidField("duracion_minutos", "must be between 5 and 1440")
	}
	if p.PriceCents != nil && *p.PriceCents < 0 {
		return invalidField("precio_centavos", "must not be negative")
	}
	if p.Currency != nil && !currencyCode.MatchString(*p.Currency) {
		return invalidField("moneda", "must be an ISO 4217 code such as COP")
	}
	if p.BufferBeforeMinutes != nil && (*p.BufferBeforeMinutes < 0 || *p.BufferBeforeMinutes > 240) {
		return invalidField("buffer_antes_minutos", "must be between 0 and 240")
	}
	if p.BufferAfterMinutes != nil && (*p.BufferAfterMinutes < 0 || *p.BufferAfterMinutes > 240) {
		return invalidField("buffer_despues_minutos", "must be between 0 and 240")
	}
	return nil
}

const serviceColumns = `id, nombre, descripcion, duracion_minutos, precio_centavos, moneda,
	buffer_antes_minutos, buffer_despues_minutos, is_active, created_at, updated_at`

func scanService(row pgx.Row) (Service, error) {
	var s Service
	err := row.Scan(&s.ID, &s.Name, &s.Description, &s.DurationMinutes, &s.PriceCents, &s.Currency,
		&s.BufferBeforeMinutes, &s.BufferAfterMinutes, &s.Active, &s.CreatedAt, &s.UpdatedAt)
	return s, err
}

// ListServices returns the services by name; inactive ones only when includeInactive.
func ListServices(ctx context.Context, tx pgx.Tx, includeInactive bool) ([]Service, error) {
	rows, err := tx.Query(ctx, `SELECT `+serviceColumns+` FROM citas_servicio
		WHERE is_active OR $1 ORDER BY nombre, id`, includeInactive)
	if err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	ss, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Service, error) { return scanService(r) })
	if err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	return ss, nil
}

// GetService returns the service with id.
func GetService(ctx context.Context, tx pgx.Tx, id int64) (Service, error) {
	s, err := scanService(tx.QueryRow(ctx, `SELECT `+serviceColumns+` FROM citas_servicio WHERE id = $1`, id))
	if err != nil {
		return Service{}, translate(err, fmt.Sprintf("service %d", id))
	}
	return s, nil
}

// CreateService creates a service. Currency defaults to COP, buffers to 0.
func CreateService(ctx context.Context, tx pgx.Tx, in ServicePatch) (Service, error) {
	switch {
	case in.Name == nil:
		return Service{}, invalidField("nombre", "is required")
	case in.DurationMinutes == nil:
		return Service{}, invalidField("duracion_minutos", "is required")
	case in.PriceCents == nil:
		return Service{}, invalidField("precio_centavos", "is required")
	}
	if err := in.validate(); err != nil {
		return Service{}, err
	}
	currency := "COP"
	if in.Currency != nil {
		currency = *in.Currency
	}
	s, err := scanService(tx.QueryRow(ctx, `INSERT INTO citas_servicio
		(nombre, descripcion, duracion_minutos, precio_centavos, moneda, buffer_antes_minutos,
		 buffer_despues_minutos, is_active)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+serviceColumns,
		*in.Name, deref(in.Description), *in.DurationMinutes, *in.PriceCents, currency,
		deref(in.BufferBeforeMinutes), deref(in.BufferAfterMinutes), in.Active == nil || *in.Active))
	if err != nil {
		return Service{}, translate(err, "service")
	}
	return s, nil
}

// UpdateService changes the fields of p that are set. Existing appointments keep the duration,
// buffers and price they were booked with.
func UpdateService(ctx context.Context, tx pgx.Tx, id int64, p ServicePatch) (Service, error) {
	if err := p.validate(); err != nil {
		return Service{}, err
	}
	s, err := scanService(tx.QueryRow(ctx, `UPDATE citas_servicio SET
			nombre = coalesce($2, nombre), descripcion = coalesce($3, descripcion),
			duracion_minutos = coalesce($4, duracion_minutos), precio_centavos = coalesce($5, precio_centavos),
			moneda = coalesce($6, moneda), buffer_antes_minutos = coalesce($7, buffer_antes_minutos),
			buffer_despues_minutos = coalesce($8, buffer_despues_minutos), is_active = coalesce($9, is_active),
			updated_at = now()
		WHERE id = $1 RETURNING `+serviceColumns, id, p.Name, p.Description, p.DurationMinutes, p.PriceCents,
		p.Currency, p.BufferBeforeMinutes, p.BufferAfterMinutes, p.Active))
	if err != nil {
		return Service{}, translate(err, fmt.Sprintf("service %d", id))
	}
	return s, nil
}

// DeactivateService marks a service inactive: it can no longer be booked.
func DeactivateService(ctx context.Context, tx pgx.Tx, id int64) (Service, error) {
	inactive := false
	return UpdateService(ctx, tx, id, ServicePatch{Active: &inactive})
}
