package wompi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ExpirationLayout is how an expiration time enters the integrity signature and the checkout
// (ISO 8601 in UTC with milliseconds, e.g. 2023-06-09T20:28:50.000Z).
const ExpirationLayout = "2006-01-02T15:04:05.000Z"

// IntegritySignature returns the lowercase hex SHA-256 (plain, not HMAC) of
// reference + amount_in_cents + currency [+ expiration_time] + integrity secret. A zero expiration
// is left out.
func IntegritySignature(reference string, amountInCents int64, currency string, expiration time.Time, secret string) string {
	var b strings.Builder
	b.WriteString(reference)
	b.WriteString(strconv.FormatInt(amountInCents, 10))
	b.WriteString(currency)
	if !expiration.IsZero() {
		b.WriteString(expiration.UTC().Format(ExpirationLayout))
	}
	b.WriteString(secret)
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// ErrBadChecksum is returned for an event whose checksum does not match: it must be refused and
// change nothing.
var ErrBadChecksum = errors.New("wompi event checksum does not match")

// Event is an event Wompi posts to the merchant's events URL.
type Event struct {
	// Event is the kind, e.g. "transaction.updated" or "nequi_token.updated".
	Event string `json:"event"`
	// Data holds the object the event is about, e.g. {"transaction": {...}}.
	Data json.RawMessage `json:"data"`
	// Environment is "test" or "prod".
	Environment string         `json:"environment"`
	Signature   EventSignature `json:"signature"`
	// Timestamp is the event's Unix time in seconds; it enters the checksum.
	Timestamp int64  `json:"timestamp"`
	SentAt    string `json:"sent_at"`
}

// EventSignature names the properties of Data (dotted paths under data) whose values, in order,
// enter the checksum.
type EventSignature struct {
	Properties []string `json:"properties"`
	Checksum   string   `json:"checksum"`
}

// Transaction returns the transaction a "transaction.updated" event carries.
func (e Event) Transaction() (Transaction, error) {
	var d struct {
		Transaction *Transaction `json:"transaction"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return Transaction{}, fmt.Errorf("reading the event's transaction: %w", err)
	}
	if d.Transaction == nil {
		return Transaction{}, fmt.Errorf("event %q carries no transaction", e.Event)
	}
	return *d.Transaction, nil
}

// EventChecksum computes the checksum of an event: the lowercase hex SHA-256 of the
// values of properties (read under data, in order), then timestamp, then the events secret.
func EventChecksum(data json.RawMessage, properties []string, timestamp int64, secret string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return "", fmt.Errorf("reading event data: %w", err)
	}
	var b strings.Builder
	for _, p := range properties {
		v, err := lookup(root, p)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	b.WriteString(strconv.FormatInt(timestamp, 10))
	b.WriteString(secret)
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:]), nil
}

func lookup(root any, path string) (string, error) {
	cur := root
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", fmt.Errorf("event property %q: %q is not an object", path, part)
		}
		if cur, ok = m[part]; !ok {
			return "", fmt.Errorf("event property %q: %q is missing", path, part)
		}
	}
	switch v := cur.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", nil
	default:
		return "", fmt.Errorf("event property %q is not a scalar", path)
	}
}

// VerifyEvent parses an event and checks its checksum with the events secret: the body's
// signature.checksum must match, and so must headerChecksum (the X-Event-Checksum header) when it
// is not empty. The comparison ignores case and takes constant time.
func VerifyEvent(body []byte, headerChecksum, secret string) (Event, error) {
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Event{}, fmt.Errorf("%w: unreadable event: %w", ErrBadChecksum, err)
	}
	if secret == "" || len(ev.Signature.Properties) == 0 || ev.Signature.Checksum == "" {
		return Event{}, fmt.Errorf("%w: the event is not signed", ErrBadChecksum)
	}
	want, err := EventChecksum(ev.Data, ev.Signature.Properties, ev.Timestamp, secret)
	if err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrBadChecksum, err)
	}
	if !equalHex(want, ev.Signature.Checksum) {
		return Event{}, ErrBadChecksum
	}
	if headerChecksum != "" && !equalHex(want, headerChecksum) {
		return Event{}, fmt.Errorf("%w: X-Event-Checksum header", ErrBadChecksum)
	}
	return ev, nil
}

func equalHex(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(strings.TrimSpace(a))), []byte(strings.ToLower(strings.TrimSpace(b)))) == 1
}

// SignEvent fills ev.Signature.Checksum for ev.Signature.Properties with the events secret (what
// Wompi does; the fake server uses it).
func SignEvent(ev *Event, secret string) error {
	sum, err := EventChecksum(ev.Data, ev.Signature.Properties, ev.Timestamp, secret)
	if err != nil {
		return err
	}
	ev.Signature.Checksum = strings.ToUpper(sum)
	return nil
}
