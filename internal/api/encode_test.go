package api

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/appcitas/appcitas/internal/booking"
)

// encodingJSON is what writeJSON writes for v: encoding/json without HTML escaping, with its
// newline.
func encodingJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return buf.Bytes(), err
}

// randomJSONText returns text that exercises every branch of the JSON string escaper.
func randomJSONText(r *rand.Rand) string {
	pieces := []string{"", "a", "Peluquería Ñandú", "\"", "\\", "/", "<>&", "\x00", "\x1f", "\x7f", "\b", "\f", "\n",
		"\r", "\t", "\u2028", "\u2029", "\u2027", "\u202a", "\xff", "\xe2\x80", "\xed\xa0\x80", "😀", "\U0010ffff",
		"\xf4\x90\x80\x80", "\xc0\xaf", " ", "é", "€"}
	var b strings.Builder
	for range r.IntN(12) {
		if r.IntN(4) == 0 {
			b.WriteByte(byte(r.IntN(256)))
		} else {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
	}
	return b.String()
}

// randomJSONTime returns times in many zones, with and without fractions of a second, inside and
// outside what RFC 3339 can write.
func randomJSONTime(r *rand.Rand) time.Time {
	zones := []*time.Location{time.UTC, time.FixedZone("", 0), time.FixedZone("", -5*3600), time.FixedZone("", 5*3600+45*60),
		time.FixedZone("", -(3*3600 + 30*60)), time.FixedZone("LMT", -(4*3600 + 56*60 + 16)), time.FixedZone("", 14*3600)}
	if loc, err := time.LoadLocation("America/Bogota"); err == nil {
		zones = append(zones, loc)
	}
	if loc, err := time.LoadLocation("Europe/Madrid"); err == nil {
		zones = append(zones, loc)
	}
	t := time.Date(1990+r.IntN(120), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC)
	switch r.IntN(5) {
	case 0:
		t = t.Add(time.Duration(r.IntN(1e9)))
	case 1:
		t = t.Add(time.Duration(r.IntN(1000)) * time.Microsecond)
	}
	return t.In(zones[r.IntN(len(zones))])
}

func randomAppointment(r *rand.Rand) booking.Appointment {
	a := booking.Appointment{ID: r.Int64(), BranchID: r.Int64N(1000), ServiceID: -r.Int64N(5), StaffID: r.Int64N(1 << 40),
		ClientName: randomJSONText(r), ClientPhone: randomJSONText(r), ClientEmail: randomJSONText(r),
		Start: randomJSONTime(r), End: randomJSONTime(r), BlockStart: randomJSONTime(r), BlockEnd: randomJSONTime(r),
		Status: randomJSONText(r), CancellationReason: randomJSONText(r), Notes: randomJSONText(r),
		PriceCents: r.Int64() - r.Int64(), Currency: randomJSONText(r), CreatedAt: randomJSONTime(r), UpdatedAt: randomJSONTime(r)}
	if r.IntN(2) == 0 {
		id := r.Int64N(100)
		a.CreatedBy = &id
	}
	if r.IntN(2) == 0 {
		id := r.Int64N(1 << 40)
		a.ClientID = &id
	}
	return a
}

func TestJSONAppendersMatchEncodingJSON(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(24, 2026))
	same := func(t *testing.T, v any, got []byte, gotErr error) {
		t.Helper()
		want, wantErr := encodingJSON(v)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("appender error %v, encoding/json error %v", gotErr, wantErr)
		}
		if wantErr == nil && !bytes.Equal(append(got, '\n'), want) {
			t.Fatalf("appender wrote\n%s\nencoding/json wrote\n%s", got, want)
		}
	}
	t.Run("WritesAppointmentPagesAsEncodingJSON", func(t *testing.T) {
		t.Parallel()
		pages := []booking.AppointmentPage{{}, {Items: []booking.Appointment{}}, {Items: []booking.Appointment{}, NextCursor: "x"}}
		for range 2000 {
			p := booking.AppointmentPage{Items: make([]booking.Appointment, r.IntN(4))}
			for i := range p.Items {
				p.Items[i] = randomAppointment(r)
			}
			if r.IntN(2) == 0 {
				p.NextCursor = randomJSONText(r)
			}
			pages = append(pages, p)
		}
		for _, p := range pages {
			got, err := appendAppointmentPage(nil, p)
			same(t, p, got, err)
		}
	})
	t.Run("WritesAvailabilityAsEncodingJSON", func(t *testing.T) {
		t.Parallel()
		as := []booking.Availability{{}, {Staff: []booking.StaffAvailability{{}}}, {Staff: []booking.StaffAvailability{{Slots: []booking.Slot{}}}}}
		for range 2000 {
			a := booking.Availability{BranchID: r.Int64(), ServiceID: r.Int64N(9), TimeZone: randomJSONText(r),
				From: booking.DateOf(randomJSONTime(r)), To: booking.DateOf(randomJSONTime(r))}
			if r.IntN(10) > 0 {
				a.Staff = make([]booking.StaffAvailability, r.IntN(3))
			}
			for i := range a.Staff {
				s := &a.Staff[i]
				s.StaffID, s.Name = r.Int64N(50), randomJSONText(r)
				if r.IntN(10) > 0 {
					s.Slots = make([]booking.Slot, r.IntN(5))
				}
				for j := range s.Slots {
					s.Slots[j] = booking.Slot{Start: randomJSONTime(r), End: randomJSONTime(r)}
				}
			}
			as = append(as, a)
		}
		for _, a := range as {
			got, err := appendAvailability(nil, a)
			same(t, a, got, err)
		}
	})
	t.Run("RefusesTimesEncodingJSONRefuses", func(t *testing.T) {
		t.Parallel()
		times := []time.Time{{}, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)),
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -24*3600)), time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 23*3600+59*60)),
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 99*3600))}
		for _, tm := range times {
			got, err := appendJSONTime(nil, tm)
			same(t, tm, got, err)
		}
	})
	t.Run("AnswersAsWriteJSONWhenATimeCannotBeWritten", func(t *testing.T) {
		t.Parallel()
		for _, p := range []booking.AppointmentPage{{Items: []booking.Appointment{randomAppointment(r)}},
			{Items: []booking.Appointment{{Start: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}} {
			want, got := httptest.NewRecorder(), httptest.NewRecorder()
			writeJSON(want, 200, p)
			writeAppointmentPage(got, 200, p)
			if got.Code != want.Code || got.Body.String() != want.Body.String() || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
				t.Fatalf("writeAppointmentPage answered %d %q, writeJSON %d %q", got.Code, got.Body, want.Code, want.Body)
			}
		}
	})
}

// FuzzJSONString checks the string escaper against encoding/json on arbitrary bytes.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\x7f", "\u2028\u2029", "\xff\xfe", "ñ😀", "\xed\xa0\x80", "<a&b>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := encodingJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		got := append(appendJSONString(nil, s), '\n')
		if !bytes.Equal(got, want) {
			t.Fatalf("%q: appender wrote %s, encoding/json %s", s, got, want)
		}
		if !utf8.Valid(got) {
			t.Fatalf("%q: invalid UTF-8 written", s)
		}
	})
}

// benchPage is a day's page of 20 appointments, as the load benchmark lists.
func benchPage() booking.AppointmentPage {
	loc, _ := time.LoadLocation("America/Bogota")
	day := time.Date(2026, 3, 2, 8, 0, 0, 0, loc)
	p := booking.AppointmentPage{Items: make([]booking.Appointment, 20)}
	by := int64(7)
	for i := range p.Items {
		s := day.Add(time.Duration(i) * 30 * time.Minute)
		p.Items[i] = booking.Appointment{ID: int64(1000 + i), BranchID: 1, ServiceID: 1, StaffID: 2,
			ClientName: "Cliente Número " + string(rune('A'+i)), ClientPhone: "+57 300 123 45 67", ClientEmail: "cliente@example.com",
			Start: s, End: s.Add(30 * time.Minute), BlockStart: s, BlockEnd: s.Add(30 * time.Minute), Status: booking.StatusPending,
			PriceCents: 2500000, Currency: "COP", CreatedBy: &by, CreatedAt: s.Add(-time.Hour), UpdatedAt: s.Add(-time.Hour)}
	}
	return p
}

// BenchmarkAppointmentPageJSON compares encoding/json and the appender on a day's page.
func BenchmarkAppointmentPageJSON(b *testing.B) {
	p := benchPage()
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			writeJSON(httptest.NewRecorder(), 200, p)
		}
	})
	b.Run("appender", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			writeAppointmentPage(httptest.NewRecorder(), 200, p)
		}
	})
	b.Run("encoding_json_bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = encodingJSON(p)
		}
	})
	b.Run("appender_bare", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 16<<10)
		for b.Loop() {
			buf, _ = appendAppointmentPage(buf[:0], p)
		}
	})
}

// BenchmarkAvailabilityJSON compares encoding/json and the appender on a day's free slots.
func BenchmarkAvailabilityJSON(b *testing.B) {
	loc, _ := time.LoadLocation("America/Bogota")
	a := booking.Availability{BranchID: 1, ServiceID: 1, TimeZone: "America/Bogota", From: booking.Date{Year: 2026, Month: 3, Day: 2},
		To: booking.Date{Year: 2026, Month: 3, Day: 2}, Staff: []booking.StaffAvailability{{StaffID: 2, Name: "Ana Pérez"}}}
	for i := range 16 {
		s := time.Date(2026, 3, 2, 8, 0, 0, 0, loc).Add(time.Duration(i) * 15 * time.Minute)
		a.Staff[0].Slots = append(a.Staff[0].Slots, booking.Slot{Start: s, End: s.Add(30 * time.Minute)})
	}
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			writeJSON(httptest.NewRecorder(), 200, a)
		}
	})
	b.Run("appender", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			writeAvailability(httptest.NewRecorder(), 200, a)
		}
	})
}
