package wompi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/wompi"
)

func TestIntegritySignature(t *testing.T) {
	t.Parallel()
	sha := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	tests := []struct {
		name       string
		reference  string
		amount     int64
		currency   string
		expiration time.Time
		secret     string
		want       string
	}{
		{
			name:      "MatchesTheDocumentationVector",
			reference: "sk8-438k4-xmxm392-sn2m", amount: 2490000, currency: "COP",
			secret: "prod_integrity_Z5mMke9x0k8gpErbDqwrJXMqsI6SFli6",
			want:   "37c8407747e595535433ef8f6a811d853cd943046624a0ec04662b17bbf33bf5",
		},
		{
			name:      "AppendsExpirationTimeBeforeTheSecret",
			reference: "sk8-438k4-xmxm392-sn2m", amount: 2490000, currency: "COP",
			expiration: time.Date(2023, 6, 9, 20, 28, 50, 0, time.UTC),
			secret:     "prod_integrity_Z5mMke9x0k8gpErbDqwrJXMqsI6SFli6",
			want:       sha("sk8-438k4-xmxm392-sn2m2490000COP2023-06-09T20:28:50.000Zprod_integrity_Z5mMke9x0k8gpErbDqwrJXMqsI6SFli6"),
		},
		{
			name:      "WritesExpirationInUTC",
			reference: "r1", amount: 100, currency: "COP",
			expiration: time.Date(2023, 6, 9, 15, 28, 50, 0, time.FixedZone("COT", -5*3600)),
			secret:     "s", want: sha("r1100COP2023-06-09T20:28:50.000Zs"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := wompi.IntegritySignature(tt.reference, tt.amount, tt.currency, tt.expiration, tt.secret)
			if got != tt.want {
				t.Fatalf("IntegritySignature = %s, want %s", got, tt.want)
			}
			if got != strings.ToLower(got) {
				t.Fatalf("signature %s is not lower case", got)
			}
		})
	}
}

func signedEvent(t *testing.T, secret string) ([]byte, string) {
	t.Helper()
	data := json.RawMessage(`{"transaction":{"id":"1234-1610641025-49201","amount_in_cents":4490000,"reference":"MZQ3X2DE2SMX","currency":"COP","status":"APPROVED"}}`)
	ev := wompi.Event{Event: "transaction.updated", Data: data, Environment: "test", Timestamp: 1530291411,
		Signature: wompi.EventSignature{Properties: []string{"transaction.id", "transaction.status", "transaction.amount_in_cents"}}}
	if err := wompi.SignEvent(&ev, secret); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return body, ev.Signature.Checksum
}

func TestEventChecksum(t *testing.T) {
	t.Parallel()
	// Concatenation order: values of the properties under data, then timestamp, then the secret.
	sum := sha256.Sum256([]byte("1234-1610641025-49201APPROVED44900001530291411test_events_secret"))
	want := hex.EncodeToString(sum[:])
	got, err := wompi.EventChecksum(json.RawMessage(`{"transaction":{"id":"1234-1610641025-49201","status":"APPROVED","amount_in_cents":4490000}}`),
		[]string{"transaction.id", "transaction.status", "transaction.amount_in_cents"}, 1530291411, "test_events_secret")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("EventChecksum = %s, want %s", got, want)
	}
}

func TestVerifyEvent(t *testing.T) {
	t.Parallel()
	const secret = "test_events_abc"
	body, checksum := signedEvent(t, secret)
	tamper := func(from, to string) []byte { return []byte(strings.Replace(string(body), from, to, 1)) }
	tests := []struct {
		name   string
		body   []byte
		header string
		secret string
		ok     bool
	}{
		{name: "AcceptsAValidEvent", body: body, header: checksum, secret: secret, ok: true},
		{name: "AcceptsWithoutHeader", body: body, header: "", secret: secret, ok: true},
		{name: "ComparesCaseInsensitively", body: body, header: strings.ToLower(checksum), secret: secret, ok: true},
		{name: "RefusesAWrongSecret", body: body, header: checksum, secret: "test_events_other"},
		{name: "RefusesATamperedStatus", body: tamper(`"status":"APPROVED"`, `"status":"DECLINED"`), header: checksum, secret: secret},
		{name: "RefusesATamperedAmount", body: tamper(`4490000`, `4490001`), header: checksum, secret: secret},
		{name: "RefusesATamperedTimestamp", body: tamper(`1530291411`, `1530291412`), header: checksum, secret: secret},
		{name: "RefusesAWrongHeader", body: body, header: strings.Repeat("0", 64), secret: secret},
		{name: "RefusesAMissingProperty", body: tamper(`"id":"1234-1610641025-49201",`, ``), header: checksum, secret: secret},
		{name: "RefusesGarbage", body: []byte("{"), header: checksum, secret: secret},
		{name: "RefusesAnUnsignedEvent", body: []byte(`{"event":"transaction.updated","data":{},"timestamp":1}`), secret: secret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := wompi.VerifyEvent(tt.body, tt.header, tt.secret)
			if tt.ok {
				if err != nil {
					t.Fatalf("VerifyEvent: %v", err)
				}
				tx, err := ev.Transaction()
				if err != nil || tx.ID != "1234-1610641025-49201" || tx.Status != "APPROVED" || tx.AmountInCents != 4490000 {
					t.Fatalf("Transaction() = %+v, %v", tx, err)
				}
				return
			}
			if !errors.Is(err, wompi.ErrBadChecksum) {
				t.Fatalf("VerifyEvent error = %v, want ErrBadChecksum", err)
			}
		})
	}
}

func TestKeysValidate(t *testing.T) {
	t.Parallel()
	sandbox := wompi.Keys{Public: "pub_test_a", Private: "prv_test_b", Events: "test_events_c", Integrity: "test_integrity_d"}
	prod := wompi.Keys{Public: "pub_prod_a", Private: "prv_prod_b", Events: "prod_events_c", Integrity: "prod_integrity_d"}
	tests := []struct {
		name string
		keys wompi.Keys
		env  wompi.Environment
		ok   bool
	}{
		{"AcceptsSandboxKeysInSandbox", sandbox, wompi.Sandbox, true},
		{"AcceptsProductionKeysInProduction", prod, wompi.Production, true},
		{"RefusesProductionKeysInSandbox", prod, wompi.Sandbox, false},
		{"RefusesSandboxKeysInProduction", sandbox, wompi.Production, false},
		{"RefusesOneMixedKey", wompi.Keys{Public: "pub_test_a", Private: "prv_prod_b", Events: "test_events_c", Integrity: "test_integrity_d"}, wompi.Sandbox, false},
		{"RefusesAMissingKey", wompi.Keys{Public: "pub_test_a", Private: "prv_test_b", Events: "test_events_c"}, wompi.Sandbox, false},
		{"RefusesABarePrefix", wompi.Keys{Public: "pub_test_", Private: "prv_test_b", Events: "test_events_c", Integrity: "test_integrity_d"}, wompi.Sandbox, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.keys.Validate(tt.env)
			if tt.ok != (err == nil) {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, wompi.ErrKeys) {
				t.Fatalf("error %v is not ErrKeys", err)
			}
			if _, err := wompi.New(wompi.Config{Environment: tt.env, Keys: tt.keys}); tt.ok != (err == nil) {
				t.Fatalf("New = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestEnvironmentBaseURL(t *testing.T) {
	t.Parallel()
	if wompi.Sandbox.BaseURL() != "https://sandbox.wompi.co/v1" || wompi.Production.BaseURL() != "https://production.wompi.co/v1" {
		t.Fatal("wrong base URLs")
	}
	for in, want := range map[string]wompi.Environment{"": wompi.Sandbox, "sandbox": wompi.Sandbox, "test": wompi.Sandbox, "production": wompi.Production, "PROD": wompi.Production} {
		if got, err := wompi.ParseEnvironment(in); err != nil || got != want {
			t.Fatalf("ParseEnvironment(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := wompi.ParseEnvironment("staging"); err == nil {
		t.Fatal("ParseEnvironment(staging) succeeded")
	}
}
