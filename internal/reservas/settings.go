package reservas

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// Defaults of [Settings].
const (
	DefaultBookNoticeMinutes       = 60
	DefaultRescheduleNoticeMinutes = 120
	DefaultCancelNoticeMinutes     = 120
	DefaultHorizonDays             = 60
	DefaultHoldMinutes             = 10
)

// Settings are an organization's rules of online booking (reservas_config).
type Settings struct {
	// Enabled turns the public booking page on.
	Enabled bool `json:"activo"`
	// BookNoticeMinutes is the minimum notice to book; RescheduleNoticeMinutes and
	// CancelNoticeMinutes how long before the appointment a client may still move or cancel it.
	BookNoticeMinutes       int `json:"aviso_reservar_minutos"`
	RescheduleNoticeMinutes int `json:"aviso_reprogramar_minutos"`
	CancelNoticeMinutes     int `json:"aviso_cancelar_minutos"`
	// HorizonDays is how many days ahead clients may book.
	HorizonDays int `json:"horizonte_dias"`
	// HoldMinutes is how long a slot stays held while the client fills in the form.
	HoldMinutes int `json:"retencion_minutos"`
	// Services and Staff are the ids bookable online; null means every active one.
	Services []int64 `json:"servicios"`
	Staff    []int64 `json:"profesionales"`
}

// DefaultSettings are the rules of an organization that never set them: online booking off.
func DefaultSettings() Settings {
	return Settings{BookNoticeMinutes: DefaultBookNoticeMinutes, RescheduleNoticeMinutes: DefaultRescheduleNoticeMinutes,
		CancelNoticeMinutes: DefaultCancelNoticeMinutes, HorizonDays: DefaultHorizonDays, HoldMinutes: DefaultHoldMinutes}
}

// ServiceBookable reports whether service id may be booked online.
func (s Settings) ServiceBookable(id int64) bool {
	return s.Services == nil || slices.Contains(s.Services, id)
}

// StaffBookable reports whether staff member id may be booked online.
func (s Settings) StaffBookable(id int64) bool { return s.Staff == nil || slices.Contains(s.Staff, id) }

func (s Settings) bookNotice() time.Duration {
	return time.Duration(s.BookNoticeMinutes) * time.Minute
}

func (s Settings) validate() error {
	switch {
	case s.BookNoticeMinutes < 0 || s.BookNoticeMinutes > 525600:
		return booking.Invalid("aviso_reservar_minutos", "must be between 0 and 525600")
	case s.RescheduleNoticeMinutes < 0 || s.RescheduleNoticeMinutes > 525600:
		return booking.Invalid("aviso_reprogramar_minutos", "must be between 0 and 525600")
	case s.CancelNoticeMinutes < 0 || s.CancelNoticeMinutes > 525600:
		return booking.Invalid("aviso_cancelar_minutos", "must be between 0 and 525600")
	case s.HorizonDays < 1 || s.HorizonDays > 366:
		return booking.Invalid("horizonte_dias", "must be between 1 and 366")
	case s.HoldMinutes < 1 || s.HoldMinutes > 60:
		return booking.Invalid("retencion_minutos", "must be between 1 and 60")
	case len(s.Services) > 1000:
		return booking.Invalid("servicios", "at most 1000 ids")
	case len(s.Staff) > 1000:
		return booking.Invalid("profesionales", "at most 1000 ids")
	}
	for _, id := range append(slices.Clone(s.Services), s.Staff...) {
		if id <= 0 {
			return booking.Invalid("servicios", "ids must be positive integers")
		}
	}
	return nil
}

const settingsColumns = `activo, aviso_reservar_minutos, aviso_reprogramar_minutos, aviso_cancelar_minutos,
	horizonte_dias, retencion_minutos, servicios, profesionales`

func scanSettings(row pgx.Row) (Settings, error) {
	var s Settings
	err := row.Scan(&s.Enabled, &s.BookNoticeMinutes, &s.RescheduleNoticeMinutes, &s.CancelNoticeMinutes,
		&s.HorizonDays, &s.HoldMinutes, &s.Services, &s.Staff)
	return s, err
}

// GetSettings returns the organization's rules ([DefaultSettings] when never set).
func GetSettings(ctx context.Context, tx pgx.Tx) (Settings, error) {
	s, err := scanSettings(tx.QueryRow(ctx, `SELECT `+settingsColumns+` FROM reservas_config WHERE id = 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return DefaultSettings(), nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("reading online booking settings: %w", err)
	}
	return s, nil
}

// PutSettings replaces the organization's rules.
func PutSettings(ctx context.Context, tx pgx.Tx, s Settings) (Settings, error) {
	if err := s.validate(); err != nil {
		return Settings{}, err
	}
	out, err := scanSettings(tx.QueryRow(ctx, `INSERT INTO reservas_config AS c (id, activo, aviso_reservar_minutos,
			aviso_reprogramar_minutos, aviso_cancelar_minutos, horizonte_dias, retencion_minutos, servicios, profesionales)
		VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET activo = EXCLUDED.activo, aviso_reservar_minutos = EXCLUDED.aviso_reservar_minutos,
			aviso_reprogramar_minutos = EXCLUDED.aviso_reprogramar_minutos, aviso_cancelar_minutos = EXCLUDED.aviso_cancelar_minutos,
			horizonte_dias = EXCLUDED.horizonte_dias, retencion_minutos = EXCLUDED.retencion_minutos,
			servicios = EXCLUDED.servicios, profesionales = EXCLUDED.profesionales, updated_at = now()
		RETURNING `+settingsColumns,
		s.Enabled, s.BookNoticeMinutes, s.RescheduleNoticeMinutes, s.CancelNoticeMinutes, s.HorizonDays, s.HoldMinutes, s.Services, s.Staff))
	if err != nil {
		return Settings{}, fmt.Errorf("writing online booking settings: %w", err)
	}
	return out, nil
}
