package feeds

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/appcitas/appcitas/internal/booking"
)

func TestEscapeText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{`a,b;c\d`, `a\,b\;c\\d`},
		{"line1\nline2\r\nline3\rline4", `line1\nline2\nline3\nline4`},
		{"tab\there", "tab\there"},
		{"bell\x07gone", "bellgone"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"Peña, José; \"Pepe\"", `Peña\, José\; "Pepe"`},
	} {
		if got := escapeText(tc.in); got != tc.want {
			t.Errorf("escapeText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFold(t *testing.T) {
	t.Parallel()
	t.Run("ShortLineIsOneLine", func(t *testing.T) {
		var w icalWriter
		w.text("SUMMARY", "Corte")
		if got := w.b.String(); got != "SUMMARY:Corte\r\n" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("LongAccentedLineFoldsAt75OctetsOnCharacterBoundaries", func(t *testing.T) {
		var w icalWriter
		// Two-byte (ñ, é) and four-byte (emoji) characters at every offset.
		name := strings.Repeat("Ñañé Peñalosa Gómez 🙂 ", 20)
		w.text("SUMMARY", name)
		out := w.b.String()
		if !strings.HasSuffix(out, "\r\n") {
			t.Fatal("no CRLF at the end")
		}
		lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
		if len(lines) < 5 {
			t.Fatalf("expected the line folded, got %d lines", len(lines))
		}
		var joined strings.Builder
		for i, l := range lines {
			if len(l) > 75 {
				t.Errorf("line %d has %d octets: %q", i, len(l), l)
			}
			if !utf8.ValidString(l) {
				t.Errorf("line %d splits a character: %q", i, l)
			}
			if i > 0 {
				if !strings.HasPrefix(l, " ") {
					t.Fatalf("continuation line %d does not start with a space: %q", i, l)
				}
				l = l[1:]
			}
			joined.WriteString(l)
		}
		if want := "SUMMARY:" + escapeText(name); joined.String() != want {
			t.Fatalf("unfolded line differs:\n got %q\nwant %q", joined.String(), want)
		}
	})
	t.Run("NoBareLineFeeds", func(t *testing.T) {
		var w icalWriter
		w.text("DESCRIPTION", "a\nb")
		if strings.Count(w.b.String(), "\n") != strings.Count(w.b.String(), "\r\n") {
			t.Fatalf("bare LF in %q", w.b.String())
		}
	})
}

func TestUTCOffset(t *testing.T) {
	t.Parallel()
	for secs, want := range map[int]string{0: "+0000", -4 * 3600: "-0400", 5*3600 + 30*60: "+0530", -(4*3600 + 42*60 + 46): "-044246"} {
		if got := utcOffset(secs); got != want {
			t.Errorf("utcOffset(%d) = %q, want %q", secs, got, want)
		}
	}
}

func santiago(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestObservances(t *testing.T) {
	t.Parallel()
	t.Run("SantiagoHasBothChangesOfTheYear", func(t *testing.T) {
		loc := santiago(t)
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		obs := observances(loc, from, from.AddDate(1, 0, 0))
		if len(obs) != 3 {
			t.Fatalf("got %d observances, want the summer time in force and two changes: %+v", len(obs), obs)
		}
		// Chile's clocks go back on the first Sunday of April 2026 (03:00 UTC... 00:00 -03 → 23:00 -04)
		// and forward on the first Sunday of September (04:00 UTC, 00:00 -04 → 01:00 -03).
		if !obs[0].daylight || obs[0].to != -3*3600 {
			t.Errorf("first observance %+v, want daylight -0300", obs[0])
		}
		back, fwd := obs[1], obs[2]
		if back.daylight || back.from != -3*3600 || back.to != -4*3600 || back.onset.Month() != time.April {
			t.Errorf("fall back %+v", back)
		}
		if !fwd.daylight || fwd.from != -4*3600 || fwd.to != -3*3600 || fwd.onset.Month() != time.September {
			t.Errorf("spring forward %+v", fwd)
		}
	})
	t.Run("BogotaHasOneOffset", func(t *testing.T) {
		loc, _ := time.LoadLocation("America/Bogota")
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		obs := observances(loc, from, from.AddDate(1, 0, 0))
		if len(obs) != 1 || obs[0].to != -5*3600 || obs[0].daylight {
			t.Fatalf("got %+v", obs)
		}
	})
}

func TestAmbiguous(t *testing.T) {
	t.Parallel()
	loc := santiago(t)
	// 2026-04-05 03:00 UTC: Santiago's clocks go from 00:00 -03 back to 23:00 -04 on the 4th.
	back := time.Date(2026, 4, 5, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want bool
	}{
		{back.Add(-30 * time.Minute), true}, // 23:30 -03, first occurrence
		{back.Add(30 * time.Minute), true},  // 23:30 -04, second occurrence
		{back.Add(-2 * time.Hour), false},   // 22:00 -03
		{back.Add(2 * time.Hour), false},    // 01:00 -04
		{time.Date(2026, 9, 6, 5, 0, 0, 0, time.UTC), false},
	} {
		if got := ambiguous(tc.t, loc); got != tc.want {
			t.Errorf("ambiguous(%s) = %v, want %v", tc.t.In(loc), got, tc.want)
		}
	}
}

func TestRenderUsesBranchZoneAndUTCForRepeatedHour(t *testing.T) {
	t.Parallel()
	loc := santiago(t)
	back := time.Date(2026, 4, 5, 3, 0, 0, 0, time.UTC)
	c := calendar{org: Organization{Slug: "acme", Name: "Acme"}, kind: KindStaff, name: "Citas", zone: "America/Santiago",
		from: back.AddDate(0, 0, -10), to: back.AddDate(0, 0, 10),
		entries: []booking.CalendarEntry{
			{ID: 1, Start: back.Add(-8 * time.Hour), End: back.Add(-7 * time.Hour), Status: "confirmada", BranchTimeZone: "America/Santiago"},
			{ID: 2, Start: back.Add(30 * time.Minute), End: back.Add(90 * time.Minute), Status: "pendiente", BranchTimeZone: "America/Santiago"},
		}}
	out := string(c.render(loc, &booking.Zones{}))
	for _, want := range []string{
		"DTSTART;TZID=America/Santiago:20260404T160000\r\n", // 19:00 UTC = 16:00 -03
		"DTSTART:20260405T033000Z\r\n",                      // 23:30 -04, the repeated hour
		"UID:cita-2@acme.appcitas\r\n",
		"STATUS:TENTATIVE\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
