package feeds

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// maxLineOctets is RFC 5545's limit on a content line, CRLF excluded (section 3.1).
const maxLineOctets = 75

// Date-time layouts of RFC 5545 (section 3.3.5): local time with a TZID, and UTC.
const (
	localLayout = "20060102T150405"
	utcLayout   = "20060102T150405Z"
)

// icalWriter writes iCalendar content lines: CRLF line endings, folded at 75 octets, and a fold
// never inside a multi-byte UTF-8 character.
type icalWriter struct {
	b bytes.Buffer
}

// prop writes one content line "name:value". value must already be escaped where it is TEXT.
func (w *icalWriter) prop(name, value string) {
	w.fold(name + ":" + value)
}

// text writes a property whose value is TEXT, escaped.
func (w *icalWriter) text(name, value string) {
	w.prop(name, escapeText(value))
}

// fold writes line, folded: each physical line holds at most 75 octets, and a continuation line
// starts with one space (which counts toward its 75).
func (w *icalWriter) fold(line string) {
	limit := maxLineOctets
	for len(line) > limit {
		cut := limit
		// Back off to the first byte of a character: a fold never splits one.
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		w.b.WriteString(line[:cut])
		w.b.WriteString("\r\n ")
		line = line[cut:]
		limit = maxLineOctets - 1
	}
	w.b.WriteString(line)
	w.b.WriteString("\r\n")
}

// escapeText escapes a TEXT value (RFC 5545 section 3.3.11): backslash, semicolon and comma get a
// backslash, a line break becomes \n. Other control characters are not allowed in TEXT and are
// dropped; invalid UTF-8 becomes U+FFFD.
func escapeText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == ';':
			b.WriteString(`\;`)
		case r == ',':
			b.WriteString(`\,`)
		case r == '\n' || r == '\r':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			// A control character TEXT does not allow.
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// paramValue quotes a parameter value when it holds a character that ends one (RFC 5545
// section 3.2). A double quote cannot be written at all and is dropped.
func paramValue(s string) string {
	s = strings.ReplaceAll(s, `"`, "")
	if strings.ContainsAny(s, ":;,") {
		return `"` + s + `"`
	}
	return s
}

// utcStamp formats t as a UTC DATE-TIME.
func utcStamp(t time.Time) string { return t.UTC().Format(utcLayout) }

// utcOffset formats an offset in seconds east of UTC as RFC 5545's UTC-OFFSET: +HHMM, or +HHMMSS
// when it has seconds.
func utcOffset(secs int) string {
	sign := '+'
	if secs < 0 {
		sign, secs = '-', -secs
	}
	h, m, s := secs/3600, secs/60%60, secs%60
	if s != 0 {
		return fmt.Sprintf("%c%02d%02d%02d", sign, h, m, s)
	}
	return fmt.Sprintf("%c%02d%02d", sign, h, m)
}

// observance is one STANDARD or DAYLIGHT component: from onset on, the zone's offset is to.
type observance struct {
	daylight bool
	name     string
	// onset is the instant the offset starts (the zero time: since before the window).
	onset    time.Time
	from, to int
}

// observances returns the offsets loc has over [from, to]: the one in effect at from (with the
// transition that began it, when Go's zone data has one), then one per transition up to to. Go's
// zone data (the IANA database) gives the transitions through time.Time.ZoneBounds.
func observances(loc *time.Location, from, to time.Time) []observance {
	t := from.In(loc)
	name, off := t.Zone()
	start, end := t.ZoneBounds()
	first := observance{daylight: t.IsDST(), name: name, from: off, to: off}
	if !start.IsZero() {
		_, prev := start.Add(-time.Second).In(loc).Zone()
		first.onset, first.from = start, prev
	}
	obs := []observance{first}
	// A zone changes its offset a few times a year: the bound only stops a malformed zone.
	for i := 0; i < 64 && !end.IsZero() && !end.After(to); i++ {
		t = end.In(loc)
		_, prev := end.Add(-time.Second).In(loc).Zone()
		name, off = t.Zone()
		obs = append(obs, observance{daylight: t.IsDST(), name: name, onset: end, from: prev, to: off})
		_, end = t.ZoneBounds()
	}
	return obs
}

// writeTimezone writes a VTIMEZONE for loc (TZID = its IANA name) valid over [from, to]: one
// STANDARD or DAYLIGHT component per offset in effect in that window, each starting at its
// transition, without recurrence rules. Clients that know the IANA name (Google) use their own
// data; the others (Apple) read these observances, which are the IANA database's.
func (w *icalWriter) writeTimezone(loc *time.Location, from, to time.Time) {
	w.prop("BEGIN", "VTIMEZONE")
	w.text("TZID", loc.String())
	for _, o := range observances(loc, from, to) {
		kind := "STANDARD"
		if o.daylight {
			kind = "DAYLIGHT"
		}
		w.prop("BEGIN", kind)
		// DTSTART of an observance is the onset in the local time that was in effect before it.
		onset := "19700101T000000"
		if !o.onset.IsZero() {
			onset = o.onset.In(time.FixedZone("", o.from)).Format(localLayout)
		}
		w.prop("DTSTART", onset)
		w.prop("TZOFFSETFROM", utcOffset(o.from))
		w.prop("TZOFFSETTO", utcOffset(o.to))
		if o.name != "" {
			w.text("TZNAME", o.name)
		}
		w.prop("END", kind)
	}
	w.prop("END", "VTIMEZONE")
}

// ambiguous reports whether t's local wall-clock time in loc names two instants (the hour repeated
// when clocks go back). RFC 5545 reads such a time as its first occurrence, so t is written in
// UTC instead.
func ambiguous(t time.Time, loc *time.Location) bool {
	t = t.In(loc)
	_, off := t.Zone()
	for _, d := range []time.Duration{-26 * time.Hour, 26 * time.Hour} {
		_, other := t.Add(d).In(loc).Zone()
		if other == off {
			continue
		}
		// The instant with the same wall-clock time under the other offset.
		twin := t.Add(time.Duration(off-other) * time.Second)
		if _, o := twin.In(loc).Zone(); o == other {
			return true
		}
	}
	return false
}
