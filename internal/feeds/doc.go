// Package feeds serves calendar feeds: secret iCalendar (RFC 5545) URLs that show one staff
// member's or one branch's appointments in Google Calendar, Apple Calendar or any client that
// subscribes to a URL. It owns the tenant table calendario_feed.
//
// # Tokens
//
// A feed's URL carries a token of 32 random bytes (base64url, 43 characters). Only its SHA-256
// is stored, with the token's first 6 characters to tell feeds apart. [Create] returns the token
// once. [Resolve] finds a live feed by token; a wrong or revoked token is [ErrNotFound]. A token
// is looked up only in the schema of the organization its URL names, so one organization's token
// never opens another's feed.
//
// # Output
//
// [Build] renders a feed: VCALENDAR with PRODID, VERSION, CALSCALE, NAME,
// X-WR-CALNAME and X-WR-TIMEZONE; one VTIMEZONE per zone used, generated from Go's zone data
// (the IANA database) for the feed's window, one STANDARD or DAYLIGHT observance per offset; one
// VEVENT per appointment from [DaysBack] local days ago to [DaysAhead] days ahead, at most
// [MaxEvents]. Event times are local times with the branch's TZID, so a client shows them at the
// branch's wall-clock time whatever its own zone and whatever the DST rules. A local time that
// names two instants (the hour repeated when clocks go back) is written in UTC instead, because
// RFC 5545 reads it as the first one. UIDs are "cita-<id>@<slug>.appcitas"; SEQUENCE is the
// seconds from creation to last change; cancelled appointments stay, as STATUS:CANCELLED. Lines
// end in CRLF and fold at 75 octets, never inside a UTF-8 character. An unchanged feed renders to
// the same bytes, so its ETag holds.
//
// Every function takes a pgx.Tx opened by tenancy's scoped transaction; nothing here chooses a
// schema. Appointments, members and branches are read through package booking.
package feeds
