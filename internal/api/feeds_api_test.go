package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	ics "github.com/arran4/golang-ical"
	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/feeds"
)

// feedNow is the feeds tests' clock: two weeks before Santiago's clocks go back (Sunday
// 2027-04-04, 00:00 -03 → Saturday 23:00 -04).
var feedNow = time.Date(2027, 3, 20, 12, 0, 0, 0, time.UTC)

// feedEnv is a booking organization with a Santiago branch, two staff members and appointments
// around the DST change.
type feedEnv struct {
	*bookingEnv
	ana       auth.User
	anaH      []string
	anaID     int64
	santiago  int64
	longName  string
	citas     map[string]int64
	santiagoZ *time.Location
}

func setupFeeds(t *testing.T, cfg func(*Config)) *feedEnv {
	t.Helper()
	e := setup(t, func(c *Config) {
		c.Now = func() time.Time { return feedNow }
		if cfg != nil {
			cfg(c)
		}
	})
	f := &feedEnv{bookingEnv: setupBookingOn(e), citas: map[string]int64{}}
	f.ana = e.createUser("ana", false)
	e.addProfile(f.org, f.ana, booking.RoleStaff, true)
	f.anaH = append(bearer(e.token(f.ana, 0)), "X-Organization-ID", strconv.FormatInt(f.org.ID, 10))
	var members listOf[booking.Member]
	f.ok("GET", "/api/miembros", nil, f.adminH, http.StatusOK, &members)
	for _, m := range members.Items {
		if m.UserID == f.ana.ID {
			f.anaID = m.ID
		}
	}
	f.ok("PATCH", fmt.Sprintf("/api/miembros/%d", f.staffProfile), map[string]any{"nombre_visible": "Juan Peña"}, f.adminH, http.StatusOK, nil)
	var br booking.Branch
	f.ok("POST", "/api/sedes", map[string]any{"nombre": "Providencia", "zona_horaria": "America/Santiago",
		"direccion": "Av. Providencia 1234, of. 5; Santiago\\Chile"}, f.adminH, http.StatusCreated, &br)
	f.santiago = br.ID
	f.santiagoZ, _ = time.LoadLocation("America/Santiago")
	f.longName = strings.Repeat("María José Peñaloza Ñúñez-Güemes ", 5) + "🙂"
	// Inserted directly: these times lie outside working hours, and created_at is an hour back so
	// that a change shows in SEQUENCE.
	add := func(key string, staff int64, start time.Time, client, status string) {
		tn, _ := f.org.Tenant()
		err := e.m.Run(e.ctx, tn, func(tx pgx.Tx) error {
			var id int64
			err := tx.QueryRow(e.ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre,
				inicio, fin, bloqueo_inicio, bloqueo_fin, estado, precio_centavos, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $5, $6, $7, 1000, now() - interval '1 hour', now() - interval '1 hour') RETURNING id`,
				f.santiago, f.serviceID, staff, client, start, start.Add(30*time.Minute), status).Scan(&id)
			f.citas[key] = id
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	local := func(y int, mo time.Month, d, h, mi int) time.Time {
		return time.Date(y, mo, d, h, mi, 0, 0, f.santiagoZ)
	}
	add("before", f.staffProfile, local(2027, 4, 3, 10, 0), "Pedro, el de \"siempre\"; VIP", booking.StatusConfirmed)
	add("dstday", f.staffProfile, local(2027, 4, 4, 10, 0), f.longName, booking.StatusPending)
	// 23:30 -04 on the 3rd: the second time the clock shows 23:30 that night.
	add("repeated", f.staffProfile, time.Date(2027, 4, 4, 3, 30, 0, 0, time.UTC), "Noctámbulo", booking.StatusConfirmed)
	add("cancelled", f.staffProfile, local(2027, 4, 5, 11, 0), "Cancelado Pérez", booking.StatusCancelled)
	add("ana", f.anaID, local(2027, 4, 3, 10, 0), "Cliente de Ana", booking.StatusConfirmed)
	add("old", f.staffProfile, local(2026, 12, 1, 10, 0), "Fuera de la ventana", booking.StatusCompleted)
	return f
}

// createFeed creates a feed as the holder of h and returns the answer.
func (f *feedEnv) createFeed(h []string, body map[string]any) createdFeed {
	f.t.Helper()
	var c createdFeed
	f.ok("POST", "/api/calendarios", body, h, http.StatusCreated, &c)
	return c
}

// fetch GETs a feed path with optional headers.
func (f *feedEnv) fetch(path string, headers ...string) (*http.Response, []byte) {
	f.t.Helper()
	rec := f.do("GET", path, nil, headers...)
	return rec.Result(), rec.Body.Bytes()
}

// parsedEvent is what the tests read from a parsed VEVENT.
type parsedEvent struct {
	UID, Status, Summary, Location string
	Start, End                     time.Time
	Sequence                       int
}

// parseWithGolangICal parses body with github.com/arran4/golang-ical.
func parseWithGolangICal(t *testing.T, body []byte) (map[string]parsedEvent, *ics.Calendar) {
	t.Helper()
	cal, err := ics.ParseCalendar(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("golang-ical refuses the feed: %v\n%s", err, body)
	}
	out := map[string]parsedEvent{}
	for _, ev := range cal.Events() {
		var p parsedEvent
		p.UID = ev.Id()
		if p.Start, err = ev.GetStartAt(); err != nil {
			t.Fatalf("DTSTART of %s: %v", p.UID, err)
		}
		if p.End, err = ev.GetEndAt(); err != nil {
			t.Fatalf("DTEND of %s: %v", p.UID, err)
		}
		get := func(prop ics.ComponentProperty) string {
			if v := ev.GetProperty(prop); v != nil {
				return v.Value
			}
			return ""
		}
		p.Status, p.Summary, p.Location = get(ics.ComponentPropertyStatus), get(ics.ComponentPropertySummary), get(ics.ComponentPropertyLocation)
		p.Sequence, _ = strconv.Atoi(get(ics.ComponentPropertySequence))
		out[p.UID] = p
	}
	return out, cal
}

// pythonICal parses a feed with Python's icalendar (Debian's python3-icalendar) and turns event
// times into UTC through the feed's own VTIMEZONE components (what a client without the IANA
// database does), refusing a local time that is ambiguous or does not exist there.
const pythonICal = `
import sys, json, datetime, icalendar
cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
tzs = {str(c['TZID']): c.to_tz() for c in cal.walk('VTIMEZONE')}
def inst(p):
    dt = p.dt
    tzid = p.params.get('TZID')
    if tzid:
        dt = tzs[tzid].localize(dt.replace(tzinfo=None), is_dst=None)
    return dt.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
evs = []
for ev in cal.walk('VEVENT'):
    evs.append({'UID': str(ev['UID']), 'Status': str(ev['STATUS']), 'Summary': str(ev['SUMMARY']),
        'Location': str(ev.get('LOCATION', '')), 'Start': inst(ev['DTSTART']), 'End': inst(ev['DTEND']),
        'Sequence': int(ev['SEQUENCE'])})
json.dump({'name': str(cal['X-WR-CALNAME']), 'tz': str(cal['X-WR-TIMEZONE']), 'events': evs}, sys.stdout)
`

// parseWithPython parses body with Python's icalendar; it skips when that is not installed,
// outside CI.
func parseWithPython(t *testing.T, body []byte) map[string]parsedEvent {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import icalendar").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-icalendar is missing (.ci/run installs it): %v", err)
		}
		t.Log("python3-icalendar is not installed: the feed is checked with golang-ical only")
		return nil
	}
	cmd := exec.Command(py, "-c", pythonICal)
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python icalendar refuses the feed: %v\n%s\n%s", err, stderr.String(), body)
	}
	var doc struct {
		Events []parsedEvent `json:"events"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	m := map[string]parsedEvent{}
	for _, ev := range doc.Events {
		m[ev.UID] = ev
	}
	return m
}

func (f *feedEnv) uid(key string) string {
	return "cita-" + strconv.FormatInt(f.citas[key], 10) + "@" + f.org.Slug + ".appcitas"
}

func TestCalendarFeeds(t *testing.T) {
	t.Parallel()
	f := setupFeeds(t, nil)
	juan := f.createFeed(f.staffH, map[string]any{"tipo": "profesional", "etiqueta": "iPhone"})

	t.Run("CreateShowsTheURLOnceAndStoresOnlyAHash", func(t *testing.T) {
		if len(juan.Token) != 43 || juan.Prefix != juan.Token[:6] || juan.StaffID == nil || *juan.StaffID != f.staffProfile {
			t.Fatalf("created %+v", juan)
		}
		if want := "/cal/" + f.org.Slug + "/" + juan.Token + ".ics"; juan.Path != want || !strings.HasSuffix(juan.URL, want) ||
			!strings.HasPrefix(juan.WebcalURL, "webcal://") {
			t.Fatalf("paths %q %q %q", juan.Path, juan.URL, juan.WebcalURL)
		}
		rec := f.ok("GET", "/api/calendarios", nil, f.staffH, http.StatusOK, nil)
		if strings.Contains(rec.Body.String(), juan.Token) {
			t.Fatal("the listing shows the token")
		}
		tn, _ := f.org.Tenant()
		_ = f.m.Run(f.ctx, tn, func(tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(f.ctx, `SELECT count(*) FROM calendario_feed WHERE token_hash::text LIKE '%' || $1 || '%'`, juan.Token).Scan(&n); err != nil || n != 0 {
				t.Errorf("token stored in clear: n=%d err=%v", n, err)
			}
			return nil
		})
	})

	resp, body := f.fetch(juan.Path)
	t.Run("FeedIsICalendarWithCachingHeaders", func(t *testing.T) {
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/calendar; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		for _, h := range []string{"ETag", "Last-Modified", "Cache-Control"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("no %s", h)
			}
		}
		s := string(body)
		for _, want := range []string{"BEGIN:VCALENDAR\r\n", "VERSION:2.0\r\n", "PRODID:", "CALSCALE:GREGORIAN\r\n",
			"X-WR-CALNAME:Citas de Juan Peña · Barbería Juan\r\n", "X-WR-TIMEZONE:", "BEGIN:VTIMEZONE\r\nTZID:America/Santiago\r\n",
			"BEGIN:DAYLIGHT\r\n", "BEGIN:STANDARD\r\n", "END:VCALENDAR\r\n"} {
			if !strings.Contains(s, want) {
				t.Errorf("missing %q", want)
			}
		}
		for i, line := range strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") {
			if len(line) > 75 || !utf8.ValidString(line) || strings.Contains(line, "\n") {
				t.Errorf("line %d breaks RFC 5545 folding (%d octets): %q", i, len(line), line)
			}
		}
	})

	t.Run("ParsesWithGolangICalAndPythonICalendar", func(t *testing.T) {
		goEvents, _ := parseWithGolangICal(t, body)
		pyEvents := parseWithPython(t, body)
		local := func(y int, mo time.Month, d, h, mi int) time.Time {
			return time.Date(y, mo, d, h, mi, 0, 0, f.santiagoZ)
		}
		want := map[string]struct {
			start  time.Time
			status string
		}{
			f.uid("before"):    {local(2027, 4, 3, 10, 0), "CONFIRMED"},
			f.uid("dstday"):    {local(2027, 4, 4, 10, 0), "TENTATIVE"},
			f.uid("repeated"):  {time.Date(2027, 4, 4, 3, 30, 0, 0, time.UTC), "CONFIRMED"},
			f.uid("cancelled"): {local(2027, 4, 5, 11, 0), "CANCELLED"},
		}
		for name, events := range map[string]map[string]parsedEvent{"golang-ical": goEvents, "python icalendar": pyEvents} {
			if events == nil {
				continue
			}
			if len(events) != len(want) {
				t.Errorf("%s: %d events, want %d (another staff member's or out of the window?): %v", name, len(events), len(want), events)
			}
			for uid, w := range want {
				ev, ok := events[uid]
				if !ok {
					t.Errorf("%s: no event %s", name, uid)
					continue
				}
				if !ev.Start.Equal(w.start) || !ev.End.Equal(w.start.Add(30*time.Minute)) {
					t.Errorf("%s: %s at %s–%s, want %s", name, uid, ev.Start.UTC(), ev.End.UTC(), w.start.UTC())
				}
				if ev.Status != w.status {
					t.Errorf("%s: %s status %s, want %s", name, uid, ev.Status, w.status)
				}
			}
		}
		if pyEvents != nil {
			if got := pyEvents[f.uid("dstday")].Summary; got != "Corte — "+f.longName {
				t.Errorf("long accented name came back as %q", got)
			}
			if got := pyEvents[f.uid("before")].Summary; got != `Corte — Pedro, el de "siempre"; VIP` {
				t.Errorf("escaped summary came back as %q", got)
			}
			if got := pyEvents[f.uid("before")].Location; got != `Providencia, Av. Providencia 1234, of. 5; Santiago\Chile` {
				t.Errorf("escaped location came back as %q", got)
			}
		}
	})

	t.Run("StaffFeedNeverHoldsAnotherStaffMembersAppointments", func(t *testing.T) {
		if strings.Contains(string(body), "Cliente de Ana") || strings.Contains(string(body), f.uid("ana")) {
			t.Fatal("Juan's feed shows Ana's appointment")
		}
		ana := f.createFeed(f.anaH, map[string]any{"tipo": "profesional"})
		_, anaBody := f.fetch(ana.Path)
		events, _ := parseWithGolangICal(t, anaBody)
		if len(events) != 1 || events[f.uid("ana")].UID == "" {
			t.Fatalf("Ana's feed: %v", events)
		}
	})

	t.Run("AnswersNotModifiedToACurrentCopy", func(t *testing.T) {
		etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		if r, _ := f.fetch(juan.Path, "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match: status %d", r.StatusCode)
		}
		if r, _ := f.fetch(juan.Path, "If-Modified-Since", lm); r.StatusCode != http.StatusNotModified {
			t.Errorf("If-Modified-Since: status %d", r.StatusCode)
		}
		if r, _ := f.fetch(juan.Path, "If-None-Match", `"other"`); r.StatusCode != http.StatusOK {
			t.Errorf("stale If-None-Match: status %d", r.StatusCode)
		}
	})

	t.Run("RescheduleBumpsSequenceAndETag", func(t *testing.T) {
		before, _ := parseWithGolangICal(t, body)
		newStart := time.Date(2027, 4, 10, 10, 0, 0, 0, f.santiagoZ)
		f.ok("POST", fmt.Sprintf("/api/citas/%d/reprogramar", f.citas["before"]),
			map[string]any{"inicio": newStart.Format(time.RFC3339), "forzar": true}, f.adminH, http.StatusOK, nil)
		r, after := f.fetch(juan.Path, "If-None-Match", resp.Header.Get("ETag"))
		if r.StatusCode != http.StatusOK {
			t.Fatalf("changed feed answered %d to the old ETag", r.StatusCode)
		}
		events, _ := parseWithGolangICal(t, after)
		ev := events[f.uid("before")]
		if !ev.Start.Equal(newStart) || ev.Sequence <= before[f.uid("before")].Sequence {
			t.Fatalf("after reschedule: start %s sequence %d (was %d)", ev.Start, ev.Sequence, before[f.uid("before")].Sequence)
		}
	})

	t.Run("RoleRules", func(t *testing.T) {
		wantError(t, f.do("POST", "/api/calendarios", map[string]any{"tipo": "profesional", "profesional_id": f.anaID}, f.staffH...), http.StatusForbidden, "forbidden")
		wantError(t, f.do("POST", "/api/calendarios", map[string]any{"tipo": "sede", "sede_id": f.santiago}, f.staffH...), http.StatusForbidden, "forbidden")
		wantError(t, f.do("POST", "/api/calendarios", map[string]any{"tipo": "sede"}, f.receptionH...), http.StatusBadRequest, "invalid_input")
		wantError(t, f.do("POST", "/api/calendarios", map[string]any{"tipo": "semana"}, f.adminH...), http.StatusBadRequest, "invalid_input")
		wantError(t, f.do("POST", "/api/calendarios", map[string]any{"tipo": "sede", "sede_id": 999999}, f.adminH...), http.StatusNotFound, "not_found")
		wantError(t, f.do("POST", "/api/calendarios", map[string]any{"tipo": "profesional", "etiqueta": strings.Repeat("x", 101)}, f.staffH...), http.StatusBadRequest, "invalid_input")
		// Ana cannot see or revoke Juan's feed.
		wantError(t, f.do("DELETE", fmt.Sprintf("/api/calendarios/%d", juan.ID), nil, f.anaH...), http.StatusNotFound, "not_found")
		var list listOf[feeds.Feed]
		f.ok("GET", "/api/calendarios", nil, f.anaH, http.StatusOK, &list)
		for _, fd := range list.Items {
			if fd.ID == juan.ID {
				t.Fatal("Ana lists Juan's feed")
			}
		}
		f.ok("GET", "/api/calendarios", nil, f.adminH, http.StatusOK, &list)
		if len(list.Items) < 2 {
			t.Fatalf("admin lists %d feeds", len(list.Items))
		}
	})

	t.Run("BranchFeedForTheReceptionShowsEveryStaffMember", func(t *testing.T) {
		br := f.createFeed(f.receptionH, map[string]any{"tipo": "sede", "sede_id": f.santiago})
		_, b := f.fetch(br.Path)
		events, _ := parseWithGolangICal(t, b)
		if events[f.uid("ana")].UID == "" || events[f.uid("dstday")].UID == "" {
			t.Fatalf("branch feed: %v", events)
		}
		if want := fmt.Sprintf("Cliente de Ana (profesional %d)", f.anaID); !strings.Contains(events[f.uid("ana")].Summary, want) {
			t.Errorf("branch feed summary does not name the staff member: %q", events[f.uid("ana")].Summary)
		}
		var list listOf[feeds.Feed]
		f.ok("GET", "/api/calendarios", nil, f.receptionH, http.StatusOK, &list)
		if len(list.Items) != 1 || list.Items[0].ID != br.ID {
			t.Fatalf("receptionist lists %+v", list.Items)
		}
	})

	t.Run("WrongTokensAreNotFound", func(t *testing.T) {
		other := []byte(juan.Token)
		other[0] ^= 1
		if other[0] == '-' || other[0] == '_' {
			other[0] = 'A'
		}
		for _, p := range []string{
			"/cal/" + f.org.Slug + "/" + string(other) + ".ics",
			"/cal/" + f.org.Slug + "/" + juan.Token,
			"/cal/" + f.org.Slug + "/short.ics",
			"/cal/no-such-org/" + juan.Token + ".ics",
			"/cal/BAD_SLUG/" + juan.Token + ".ics",
		} {
			wantError(t, f.do("GET", p, nil), http.StatusNotFound, "feed_not_found")
		}
	})

	t.Run("TokenOfOneOrganizationOnAnothersURLIsNotFound", func(t *testing.T) {
		orgB := f.env.createOrg("Peluquería Otra")
		bob := f.env.createUser("bob", false)
		f.env.addProfile(orgB, bob, booking.RoleStaff, true)
		hB := append(bearer(f.env.token(bob, 0)), "X-Organization-ID", strconv.FormatInt(orgB.ID, 10))
		feedB := f.createFeed(hB, map[string]any{"tipo": "profesional"})
		if r, _ := f.fetch(feedB.Path); r.StatusCode != http.StatusOK {
			t.Fatalf("org B's own feed: %d", r.StatusCode)
		}
		wantError(t, f.do("GET", "/cal/"+orgB.Slug+"/"+juan.Token+".ics", nil), http.StatusNotFound, "feed_not_found")
		wantError(t, f.do("GET", "/cal/"+f.org.Slug+"/"+feedB.Token+".ics", nil), http.StatusNotFound, "feed_not_found")
	})

	t.Run("RevokedFeedIsNotFound", func(t *testing.T) {
		var revoked feeds.Feed
		f.ok("DELETE", fmt.Sprintf("/api/calendarios/%d", juan.ID), nil, f.staffH, http.StatusOK, &revoked)
		if revoked.RevokedAt == nil {
			t.Fatal("not marked revoked")
		}
		wantError(t, f.do("GET", juan.Path, nil), http.StatusNotFound, "feed_not_found")
		var list listOf[feeds.Feed]
		f.ok("GET", "/api/calendarios?incluir_revocados=true", nil, f.staffH, http.StatusOK, &list)
		if len(list.Items) != 1 || list.Items[0].RevokedAt == nil {
			t.Fatalf("listing with revoked: %+v", list.Items)
		}
	})

	t.Run("DeactivatedStaffMembersFeedIsNotFound", func(t *testing.T) {
		ana := f.createFeed(f.anaH, map[string]any{"tipo": "profesional", "etiqueta": "otro"})
		f.ok("DELETE", fmt.Sprintf("/api/miembros/%d", f.anaID), nil, f.adminH, http.StatusOK, nil)
		wantError(t, f.do("GET", ana.Path, nil), http.StatusNotFound, "feed_not_found")
	})

	t.Run("LogsNeverHoldATokenInClear", func(t *testing.T) {
		if strings.Contains(f.logs.String(), juan.Token) {
			t.Fatal("a feed token is in the request log")
		}
	})
}

func TestCalendarFeedRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *Config) { c.FeedPerIP = auth.LimitOptions{Burst: 2, Every: time.Hour} })
	e.createOrg("Limitada")
	path := "/cal/limitada/" + strings.Repeat("A", 43) + ".ics"
	for range 2 {
		wantError(t, e.do("GET", path, nil), http.StatusNotFound, "feed_not_found")
	}
	rec := e.do("GET", path, nil)
	wantError(t, rec, http.StatusTooManyRequests, "too_many_requests")
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}
