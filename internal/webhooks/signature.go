package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Headers of every delivery.
const (
	// HeaderSignature is "t=<unix>,v1=<hex>[,v1=<hex>]".
	HeaderSignature = "Appcitas-Signature"
	// HeaderEvent is the event type, e.g. appointment.created.
	HeaderEvent = "Appcitas-Event"
	// HeaderDelivery is the delivery's id, the same on every retry of it.
	HeaderDelivery = "Appcitas-Delivery"
)

// secretPrefix starts every subscription secret.
const secretPrefix = "whsec_"

// newSecret returns a fresh subscription secret: the prefix and 32 random bytes in hex.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return secretPrefix + hex.EncodeToString(b)
}

// Sign returns the Appcitas-Signature value of body sent at t: one v1 per secret, in order.
func Sign(t time.Time, body []byte, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		mac := hmac.New(sha256.New, []byte(s))
		mac.Write([]byte(ts))
		mac.Write([]byte("."))
		mac.Write(body)
		b.WriteString(",v1=" + hex.EncodeToString(mac.Sum(nil)))
	}
	return b.String()
}
