package reminders

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/jackc/pgx/v5"
)

// ErrInvalid is returned for settings that cannot be saved.
var ErrInvalid = errors.New("invalid reminder settings")

// Limits of the offsets.
const (
	// MaxOffsets is how many reminders one appointment may get.
	MaxOffsets = 6
	// MinOffsetMinutes and MaxOffsetMinutes bound each offset (5 minutes to 7 days).
	MinOffsetMinutes = 5
	MaxOffsetMinutes = 7 * 24 * 60
)

// Settings are an organization's reminder settings, as GET /api/recordatorios/configuracion
// answers them.
type Settings struct {
	// Enabled turns reminders on. Defaults to false.
	Enabled bool `json:"activo"`
	// OffsetsMinutes are the minutes before each appointment a reminder goes out. Defaults to
	// [1440, 120] (24 h and 2 h).
	OffsetsMinutes []int `json:"anticipaciones_minutos"`
	// Email sends reminders by e-mail to clients with an address. Defaults to true.
	Email bool `json:"email"`
	// WhatsApp sends reminders by WhatsApp to clients with a phone number. Defaults to false.
	WhatsApp bool `json:"whatsapp"`
	// Language of the e-mail: "es" or "en". Defaults to "es".
	Language string `json:"idioma"`
	// WhatsAppTemplate is the approved template's name. Defaults to "recordatorio_cita".
	WhatsAppTemplate string `json:"whatsapp_plantilla"`
	// WhatsAppLanguage is the template's language code. Defaults to "es".
	WhatsAppLanguage string `json:"whatsapp_idioma"`
	// WhatsAppPhoneNumberID is the organization's own WhatsApp Business number id; empty uses the
	// server's.
	WhatsAppPhoneNumberID string `json:"whatsapp_phone_number_id"`
	// WhatsAppTokenSet says whether the organization stored its own access token (never returned).
	WhatsAppTokenSet bool `json:"whatsapp_token_configurado"`
}

// SettingsInput is the body of PUT /api/recordatorios/configuracion: the whole settings.
// Fields left out take their defaults.
type SettingsInput struct {
	Enabled               *bool   `json:"activo,omitempty"`
	OffsetsMinutes        []int   `json:"anticipaciones_minutos,omitempty"`
	Email                 *bool   `json:"email,omitempty"`
	WhatsApp              *bool   `json:"whatsapp,omitempty"`
	Language              *string `json:"idioma,omitempty"`
	WhatsAppTemplate      *string `json:"whatsapp_plantilla,omitempty"`
	WhatsAppLanguage      *string `json:"whatsapp_idioma,omitempty"`
	WhatsAppPhoneNumberID *string `json:"whatsapp_phone_number_id,omitempty"`
	// WhatsAppToken stores the organization's own access token (sealed); "" removes it; left out
	// keeps the stored one.
	WhatsAppToken *string `json:"whatsapp_token,omitempty"`
}

// DefaultSettings are the settings of an organization that never saved any.
func DefaultSettings() Settings {
	return Settings{OffsetsMinutes: []int{1440, 120}, Email: true, Language: "es",
		WhatsAppTemplate: "recordatorio_cita", WhatsAppLanguage: "es"}
}

var (
	templateName = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
	languageCode = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z]{2})?$`)
	digits       = regexp.MustCompile(`^[0-9]{1,30}$`)
)

// settings is a settings row with its sealed token.
type settings struct {
	Settings
	sealedToken []byte
}

const settingsSQL = `SELECT activo, anticipaciones_minutos, canal_email, canal_whatsapp, idioma, whatsapp_plantilla,
	whatsapp_idioma, whatsapp_phone_number_id, whatsapp_token_cifrado FROM recordatorios_configuracion`

func readSettings(ctx context.Context, tx pgx.Tx) (settings, error) {
	s := settings{Settings: DefaultSettings()}
	err := tx.QueryRow(ctx, settingsSQL).Scan(&s.Enabled, &s.OffsetsMinutes, &s.Email, &s.WhatsApp, &s.Language,
		&s.WhatsAppTemplate, &s.WhatsAppLanguage, &s.WhatsAppPhoneNumberID, &s.sealedToken)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return settings{}, fmt.Errorf("reading reminder settings: %w", err)
	}
	s.WhatsAppTokenSet = len(s.sealedToken) > 0
	return s, nil
}

// GetSettings returns the organization's reminder settings (the defaults when none were saved).
// tx is a tenant scope (tenancy's Run).
func GetSettings(ctx context.Context, tx pgx.Tx) (Settings, error) {
	s, err := readSettings(ctx, tx)
	return s.Settings, err
}

// apply validates in and returns the settings it describes.
func (in SettingsInput) apply() (Settings, error) {
	s := DefaultSettings()
	set := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	set(&s.Enabled, in.Enabled)
	set(&s.Email, in.Email)
	set(&s.WhatsApp, in.WhatsApp)
	if s.Enabled && !s.Email && !s.WhatsApp {
		return Settings{}, fmt.Errorf("%w: turn on email or whatsapp to send reminders", ErrInvalid)
	}
	if in.OffsetsMinutes != nil {
		s.OffsetsMinutes = slices.Clone(in.OffsetsMinutes)
	}
	if len(s.OffsetsMinutes) == 0 || len(s.OffsetsMinutes) > MaxOffsets {
		return Settings{}, fmt.Errorf("%w: anticipaciones_minutos must list 1 to %d offsets", ErrInvalid, MaxOffsets)
	}
	for _, o := range s.OffsetsMinutes {
		if o < MinOffsetMinutes || o > MaxOffsetMinutes {
			return Settings{}, fmt.Errorf("%w: each offset in anticipaciones_minutos must be between %d and %d minutes", ErrInvalid, MinOffsetMinutes, MaxOffsetMinutes)
		}
	}
	slices.Sort(s.OffsetsMinutes)
	slices.Reverse(s.OffsetsMinutes)
	if len(slices.Compact(slices.Clone(s.OffsetsMinutes))) != len(s.OffsetsMinutes) {
		return Settings{}, fmt.Errorf("%w: anticipaciones_minutos has a repeated offset", ErrInvalid)
	}
	if in.Language != nil {
		s.Language = *in.Language
	}
	if s.Language != "es" && s.Language != "en" {
		return Settings{}, fmt.Errorf("%w: idioma must be es or en", ErrInvalid)
	}
	if in.WhatsAppTemplate != nil {
		s.WhatsAppTemplate = *in.WhatsAppTemplate
	}
	if !templateName.MatchString(s.WhatsAppTemplate) {
		return Settings{}, fmt.Errorf("%w: whatsapp_plantilla must be a template name (lower-case letters, digits, _)", ErrInvalid)
	}
	if in.WhatsAppLanguage != nil {
		s.WhatsAppLanguage = *in.WhatsAppLanguage
	}
	if !languageCode.MatchString(s.WhatsAppLanguage) {
		return Settings{}, fmt.Errorf("%w: whatsapp_idioma must be a language code such as es, es_CO or en_US", ErrInvalid)
	}
	if in.WhatsAppPhoneNumberID != nil {
		s.WhatsAppPhoneNumberID = *in.WhatsAppPhoneNumberID
	}
	if s.WhatsAppPhoneNumberID != "" && !digits.MatchString(s.WhatsAppPhoneNumberID) {
		return Settings{}, fmt.Errorf("%w: whatsapp_phone_number_id must be digits", ErrInvalid)
	}
	if in.WhatsAppToken != nil && len(*in.WhatsAppToken) > 4096 {
		return Settings{}, fmt.Errorf("%w: whatsapp_token is too long", ErrInvalid)
	}
	return s, nil
}

// PutSettings replaces the organization's reminder settings and brings the due reminders in line:
// switched on (or with new offsets), every appointment that has not started gets its reminders;
// switched off, pending reminders are cancelled; an offset removed cancels its pending reminders.
// tx is a tenant scope; orgID is its organization (the sealed token is bound to it).
func (s *Service) PutSettings(ctx context.Context, tx pgx.Tx, orgID int64, in SettingsInput) (Settings, error) {
	next, err := in.apply()
	if err != nil {
		return Settings{}, err
	}
	cur, err := readSettings(ctx, tx)
	if err != nil {
		return Settings{}, err
	}
	sealed := cur.sealedToken
	if in.WhatsAppToken != nil {
		sealed = nil
		if *in.WhatsAppToken != "" {
			if sealed, err = s.seal(orgID, *in.WhatsAppToken); err != nil {
				return Settings{}, err
			}
		}
	}
	if len(sealed) > 0 && next.WhatsAppPhoneNumberID == "" {
		return Settings{}, fmt.Errorf("%w: a whatsapp_token needs the organization's whatsapp_phone_number_id", ErrInvalid)
	}
	// One row: writers take turns (the lock lasts until the tenant's transaction ends).
	if _, err := tx.Exec(ctx, `LOCK TABLE recordatorios_configuracion IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return Settings{}, fmt.Errorf("saving reminder settings: %w", err)
	}
	args := []any{next.Enabled, next.OffsetsMinutes, next.Email, next.WhatsApp, next.Language, next.WhatsAppTemplate,
		next.WhatsAppLanguage, next.WhatsAppPhoneNumberID, sealed}
	tag, err := tx.Exec(ctx, `UPDATE recordatorios_configuracion SET activo = $1, anticipaciones_minutos = $2, canal_email = $3,
			canal_whatsapp = $4, idioma = $5, whatsapp_plantilla = $6, whatsapp_idioma = $7, whatsapp_phone_number_id = $8,
			whatsapp_token_cifrado = $9, updated_at = now()`, args...)
	if err == nil && tag.RowsAffected() == 0 {
		_, err = tx.Exec(ctx, `INSERT INTO recordatorios_configuracion (activo, anticipaciones_minutos, canal_email, canal_whatsapp,
				idioma, whatsapp_plantilla, whatsapp_idioma, whatsapp_phone_number_id, whatsapp_token_cifrado)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, args...)
	}
	if err != nil {
		return Settings{}, fmt.Errorf("saving reminder settings: %w", err)
	}
	if err := resync(ctx, tx, next, cur.Settings); err != nil {
		return Settings{}, err
	}
	next.WhatsAppTokenSet = len(sealed) > 0
	return next, nil
}

// resync brings the due reminders in line with changed settings, in the settings' transaction.
func resync(ctx context.Context, tx pgx.Tx, next, prev Settings) error {
	if !next.Enabled {
		_, err := tx.Exec(ctx, `UPDATE recordatorios_recordatorio SET estado = 'cancelado', updated_at = now() WHERE estado = 'pendiente'`)
		if err != nil {
			return fmt.Errorf("cancelling pending reminders: %w", err)
		}
		return nil
	}
	if prev.Enabled && slices.Equal(prev.OffsetsMinutes, next.OffsetsMinutes) {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE recordatorios_recordatorio SET estado = 'cancelado', updated_at = now()
		WHERE estado = 'pendiente' AND anticipacion_minutos <> ALL ($1)`, next.OffsetsMinutes); err != nil {
		return fmt.Errorf("cancelling reminders of removed offsets: %w", err)
	}
	// The same rows the trigger makes, for every appointment that has not started: rows exist
	// only for appointments whose reminders were kept in step, so a reminder that was cancelled
	// by switching off comes back, and a sent one stays sent.
	_, err := tx.Exec(ctx, `INSERT INTO recordatorios_recordatorio AS r (cita_id, anticipacion_minutos, cita_inicio, enviar_en, proximo_en, estado)
		SELECT c.id, a, c.inicio, c.inicio - make_interval(mins => a), c.inicio - make_interval(mins => a),
			CASE WHEN c.inicio - make_interval(mins => a) > now() THEN 'pendiente' ELSE 'vencido' END
		FROM citas_cita c CROSS JOIN unnest($1::integer[]) AS a
		WHERE c.inicio > now() AND c.estado IN ('pendiente', 'confirmada')
		ON CONFLICT (cita_id, anticipacion_minutos) DO UPDATE SET estado = EXCLUDED.estado, proximo_en = EXCLUDED.proximo_en,
			enviar_en = EXCLUDED.enviar_en, cita_inicio = EXCLUDED.cita_inicio, intentos = 0, reclamado_en = NULL,
			email_hecho = false, whatsapp_hecho = false, ultimo_error = '', updated_at = now()
		WHERE r.estado = 'cancelado'`, next.OffsetsMinutes)
	if err != nil {
		return fmt.Errorf("scheduling reminders: %w", err)
	}
	// Announce the tenant's work like the trigger does.
	_, err = tx.Exec(ctx, `SELECT pg_notify('appcitas_recordatorios', current_schema() || ' ' ||
			(floor(extract(epoch FROM min(proximo_en)) / 300) * 300)::bigint::text)
		FROM recordatorios_recordatorio WHERE estado = 'pendiente' HAVING min(proximo_en) IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("announcing reminders: %w", err)
	}
	return nil
}
