package reservas

import (
	"strings"
	"time"
)

// Event is one appointment as an iCalendar event.
type Event struct {
	// UID is stable for the appointment: the same on every message about it.
	UID         string
	Summary     string
	Location    string
	Description string
	Start, End  time.Time
	// Sequence grows with each change of the event.
	Sequence int
	// Cancelled marks the event STATUS:CANCELLED.
	Cancelled bool
}

// ICS returns a calendar of one event with METHOD:PUBLISH (RFC 5545, RFC 5546): times in UTC,
// text escaped, lines folded at 75 octets, CRLF line ends.
func ICS(e Event, now time.Time) string {
	const stamp = "20060102T150405Z"
	var b strings.Builder
	line := func(s string) {
		for len(s) > 75 {
			cut := 75
			for cut > 0 && !utf8Start(s[cut]) {
				cut--
			}
			b.WriteString(s[:cut] + "\r\n")
			s = " " + s[cut:]
		}
		b.WriteString(s + "\r\n")
	}
	line("BEGIN:VCALENDAR")
	line("VERSION:2.0")
	line("PRODID:-//appcitas//reservas//ES")
	line("CALSCALE:GREGORIAN")
	line("METHOD:PUBLISH")
	line("BEGIN:VEVENT")
	line("UID:" + escapeText(e.UID))
	line("DTSTAMP:" + now.UTC().Format(stamp))
	line("DTSTART:" + e.Start.UTC().Format(stamp))
	line("DTEND:" + e.End.UTC().Format(stamp))
	line("SEQUENCE:" + itoa(e.Sequence))
	line("SUMMARY:" + escapeText(e.Summary))
	if e.Location != "" {
		line("LOCATION:" + escapeText(e.Location))
	}
	if e.Description != "" {
		line("DESCRIPTION:" + escapeText(e.Description))
	}
	if e.Cancelled {
		line("STATUS:CANCELLED")
	} else {
		line("STATUS:CONFIRMED")
	}
	line("END:VEVENT")
	line("END:VCALENDAR")
	return b.String()
}

func utf8Start(c byte) bool { return c&0xC0 != 0x80 }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for n > 0 {
		d = append([]byte{byte('0' + n%10)}, d...)
		n /= 10
	}
	return string(d)
}

// escapeText escapes a TEXT value (RFC 5545 3.3.11).
func escapeText(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`).Replace(s)
}
