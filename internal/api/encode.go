package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/appcitas/appcitas/internal/booking"
)

// encodeFailureBody is the answer sent instead of a body that could not be encoded.
const encodeFailureBody = `{"error":{"code":"internal_error","message":"internal server error: the answer could not be encoded"}}` + "\n"

// encodeFailureNoter is a response writer layer that wants to know when writeJSON could not encode
// an answer: statusWriter logs it, txWriter makes inTenant roll its transaction back.
type encodeFailureNoter interface {
	noteEncodeFailure(err error)
}

// noteEncodeFailure tells every layer of w that wants to know (encodeFailureNoter) that err kept
// an answer from being encoded.
func noteEncodeFailure(w http.ResponseWriter, err error) {
	for w != nil {
		if n, ok := w.(encodeFailureNoter); ok {
			n.noteEncodeFailure(err)
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

// noteEncodeFailure keeps the first encoding failure for the request log.
func (w *statusWriter) noteEncodeFailure(err error) {
	if w.encodeErr == nil {
		w.encodeErr = err
	}
}

// noteEncodeFailure keeps the first encoding failure of the held-back answer.
func (w *txWriter) noteEncodeFailure(err error) {
	if w.buffering && w.encodeErr == nil {
		w.encodeErr = err
	}
}

// The hot answers (a page of appointments, free slots) are encoded by hand: the appenders below
// write what encoding/json writes for the same value with SetEscapeHTML(false), byte for byte
// (TestJSONAppendersMatchEncodingJSON, FuzzJSONString), without reflection.
// A value they cannot write (a time outside RFC 3339) goes to writeJSON, which answers as it
// always has.

// errJSONTime is returned by the appenders for a time that encoding/json refuses too.
var errJSONTime = errors.New("time outside RFC 3339")

// writeJSONAppended writes v as writeJSON does, encoded by appendFn; when appendFn fails, v goes
// to writeJSON.
func writeJSONAppended[T any](w http.ResponseWriter, status int, v T, size int, appendFn func([]byte, T) ([]byte, error)) {
	b, err := appendFn(make([]byte, 0, size), v)
	if err != nil {
		writeJSON(w, status, v)
		return
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeAppointmentPage writes a page of appointments as writeJSON would.
func writeAppointmentPage(w http.ResponseWriter, status int, p booking.AppointmentPage) {
	writeJSONAppended(w, status, p, 64+600*len(p.Items), appendAppointmentPage)
}

// writeAvailability writes free slots as writeJSON would.
func writeAvailability(w http.ResponseWriter, status int, a booking.Availability) {
	n := 128
	for _, s := range a.Staff {
		n += 96 + 96*len(s.Slots)
	}
	writeJSONAppended(w, status, a, n, appendAvailability)
}

// appendAppointmentPage appends p as encoding/json does.
func appendAppointmentPage(b []byte, p booking.AppointmentPage) ([]byte, error) {
	b = append(b, `{"items":`...)
	if p.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range p.Items {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendAppointment(b, &p.Items[i]); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	if p.NextCursor != "" {
		b = append(b, `,"next_cursor":`...)
		b = appendJSONString(b, p.NextCursor)
	}
	return append(b, '}'), nil
}

// appendAppointment appends a as encoding/json does.
func appendAppointment(b []byte, a *booking.Appointment) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, a.ID, 10)
	b = append(b, `,"sede_id":`...)
	b = strconv.AppendInt(b, a.BranchID, 10)
	b = append(b, `,"servicio_id":`...)
	b = strconv.AppendInt(b, a.ServiceID, 10)
	b = append(b, `,"profesional_id":`...)
	b = strconv.AppendInt(b, a.StaffID, 10)
	b = append(b, `,"cliente_id":`...)
	if a.ClientID == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *a.ClientID, 10)
	}
	b = append(b, `,"cliente_nombre":`...)
	b = appendJSONString(b, a.ClientName)
	b = append(b, `,"cliente_telefono":`...)
	b = appendJSONString(b, a.ClientPhone)
	b = append(b, `,"cliente_email":`...)
	b = appendJSONString(b, a.ClientEmail)
	var err error
	for _, f := range [...]struct {
		name string
		t    *time.Time
	}{{`,"inicio":`, &a.Start}, {`,"fin":`, &a.End}, {`,"bloqueo_inicio":`, &a.BlockStart}, {`,"bloqueo_fin":`, &a.BlockEnd}} {
		b = append(b, f.name...)
		if b, err = appendJSONTime(b, *f.t); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"estado":`...)
	b = appendJSONString(b, a.Status)
	b = append(b, `,"motivo_cancelacion":`...)
	b = appendJSONString(b, a.CancellationReason)
	b = append(b, `,"notas":`...)
	b = appendJSONString(b, a.Notes)
	b = append(b, `,"precio_centavos":`...)
	b = strconv.AppendInt(b, a.PriceCents, 10)
	b = append(b, `,"moneda":`...)
	b = appendJSONString(b, a.Currency)
	b = append(b, `,"creado_por":`...)
	if a.CreatedBy == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *a.CreatedBy, 10)
	}
	b = append(b, `,"created_at":`...)
	if b, err = appendJSONTime(b, a.CreatedAt); err != nil {
		return nil, err
	}
	b = append(b, `,"updated_at":`...)
	if b, err = appendJSONTime(b, a.UpdatedAt); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendAvailability appends a as encoding/json does.
func appendAvailability(b []byte, a booking.Availability) ([]byte, error) {
	b = append(b, `{"sede_id":`...)
	b = strconv.AppendInt(b, a.BranchID, 10)
	b = append(b, `,"servicio_id":`...)
	b = strconv.AppendInt(b, a.ServiceID, 10)
	b = append(b, `,"zona_horaria":`...)
	b = appendJSONString(b, a.TimeZone)
	b = append(b, `,"desde":`...)
	b = appendJSONString(b, a.From.String())
	b = append(b, `,"hasta":`...)
	b = appendJSONString(b, a.To.String())
	b = append(b, `,"profesionales":`...)
	if a.Staff == nil {
		return append(b, "null}"...), nil
	}
	b = append(b, '[')
	var err error
	for i := range a.Staff {
		s := &a.Staff[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"profesional_id":`...)
		b = strconv.AppendInt(b, s.StaffID, 10)
		b = append(b, `,"nombre_visible":`...)
		b = appendJSONString(b, s.Name)
		b = append(b, `,"slots":`...)
		if s.Slots == nil {
			b = append(b, "null}"...)
			continue
		}
		b = append(b, '[')
		for j := range s.Slots {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"inicio":`...)
			if b, err = appendJSONTime(b, s.Slots[j].Start); err != nil {
				return nil, err
			}
			b = append(b, `,"fin":`...)
			if b, err = appendJSONTime(b, s.Slots[j].End); err != nil {
				return nil, err
			}
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	}
	return append(b, "]}"...), nil
}

// appendJSONTime appends t as time.Time's MarshalJSON does: RFC 3339 with nanoseconds, quoted. It
// fails, as MarshalJSON does, for a year outside 0–9999 or a zone offset of 24 hours or more.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	n0 := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	if len(b) < n0+len("2006-01-02T15:04:05Z") || b[n0+len("2006")] != '-' {
		return nil, errJSONTime
	}
	if b[len(b)-1] != 'Z' {
		c := b[len(b)-len("Z07:00")]
		h := b[len(b)-len("07:00"):]
		if ('0' <= c && c <= '9') || 10*(h[0]-'0')+(h[1]-'0') >= 24 {
			return nil, errJSONTime
		}
	}
	return append(b, '"'), nil
}

// appendJSONString appends s as a JSON string as encoding/json does with SetEscapeHTML(false):
// '"' and '\\' escaped, control characters as \b \f \n \r \t or \u00XX, invalid UTF-8 as
// \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
