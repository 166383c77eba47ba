package api

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/auth"
)

func TestClientAddr(t *testing.T) {
	t.Parallel()
	proxies := trustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	tests := []struct {
		name    string
		proxies trustedProxies
		peer    string
		xff     []string
		want    string
	}{
		{"PeerWithoutProxies", nil, "203.0.113.7:4000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"IgnoresSpoofedHeaderFromUntrustedPeer", proxies, "203.0.113.7:4000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"TrustedPeerWithoutHeaderIsTheClient", proxies, "10.1.2.3:4000", nil, "10.1.2.3"},
		{"RightmostUntrustedEntry", proxies, "10.1.2.3:4000", []string{"198.51.100.1, 203.0.113.9"}, "203.0.113.9"},
		{"SkipsTrustedHops", proxies, "10.1.2.3:4000", []string{"6.6.6.6, 203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"ReadsEveryHeaderLine", proxies, "10.1.2.3:4000", []string{"6.6.6.6, 203.0.113.9", "10.9.9.9"}, "203.0.113.9"},
		{"AllTrustedIsTheLeftmost", proxies, "10.1.2.3:4000", []string{"10.5.5.5, 10.9.9.9"}, "10.5.5.5"},
		{"GarbageStopsAtTheLastTrustedHop", proxies, "10.1.2.3:4000", []string{"203.0.113.9, nonsense, 10.9.9.9"}, "10.9.9.9"},
		{"EntryWithPort", proxies, "10.1.2.3:4000", []string{"203.0.113.9:5555"}, "203.0.113.9"},
		{"IPv6", proxies, "[2001:db8:ffff::1]:4000", []string{"[2001:db8:1::7]:80"}, "2001:db8:1::7"},
		{"MappedIPv4Peer", proxies, "[::ffff:10.1.2.3]:4000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"PeerWithoutPort", proxies, "203.0.113.7", []string{"198.51.100.1"}, "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.proxies.clientAddr(r); got != tt.want {
				t.Errorf("clientAddr = %q; want %q", got, tt.want)
			}
		})
	}
}

// loginFrom sends a login from peer (host:port) with X-Forwarded-For xff ("" for none).
func (e *env) loginFrom(peer, xff, username, password string) *httptest.ResponseRecorder {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"username": username, "password": password})
	req := httptest.NewRequest("POST", "/api/auth/token", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "prueba/1.0")
	req.RemoteAddr = peer
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	return serve(e, req)
}

// TestTrustedProxies checks the login rate limit and logs behind a proxy: a client's address is
// read through a trusted proxy only.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		c.LoginPerIP = auth.LimitOptions{Burst: 2, Every: time.Hour}
		c.LoginPerAccount = auth.LimitOptions{Burst: 100, Every: time.Second}
	})
	e.createUser("ana", false)
	const proxy = "10.0.0.2:40000"

	t.Run("ClientsBehindATrustedProxyHaveTheirOwnLimit", func(t *testing.T) {
		for range 2 {
			wantError(t, e.loginFrom(proxy, "198.51.100.1", "ana", "wrong-pass"), 401, "invalid_credentials")
		}
		wantError(t, e.loginFrom(proxy, "198.51.100.1", "ana", "wrong-pass"), 429, "too_many_requests")
		// Another client through the same proxy still has its budget.
		wantError(t, e.loginFrom(proxy, "198.51.100.2", "ana", "wrong-pass"), 401, "invalid_credentials")
		decodeTokens(t, e.loginFrom(proxy, "198.51.100.2", "ana", "password-ana"))
	})

	t.Run("SpoofedHeaderFromAnUntrustedPeerIsIgnored", func(t *testing.T) {
		for i, xff := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
			rec := e.loginFrom("203.0.113.50:5000", xff, "ana", "wrong-pass")
			if i < 2 {
				wantError(t, rec, 401, "invalid_credentials")
			} else {
				wantError(t, rec, 429, "too_many_requests")
			}
		}
	})

	t.Run("FailedLoginIsLoggedWithUsernameAndAddress", func(t *testing.T) {
		wantError(t, e.loginFrom(proxy, "198.51.100.77", "ana", "secreto-equivocado"), 401, "invalid_credentials")
		var found bool
		for line := range strings.Lines(e.logs.String()) {
			if strings.Contains(line, "secreto-equivocado") {
				t.Errorf("a log line holds the password: %s", line)
			}
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil || rec["client_ip"] != "198.51.100.77" {
				continue
			}
			switch rec["msg"] {
			case "login failed":
				found = true
				if rec["level"] != "WARN" || rec["username"] != "ana" {
					t.Errorf("failed-login line = %s; want WARN with username ana", line)
				}
			case "request":
				if rec["user_agent"] != "prueba/1.0" {
					t.Errorf("request line = %s; want the user agent", line)
				}
			}
		}
		if !found {
			t.Errorf("no WARN line for the failed login with client_ip 198.51.100.77:\n%s", e.logs.String())
		}
	})
}

// TestSignupLimitBehindATrustedProxy checks that two clients behind one trusted proxy have their
// own signup budgets.
func TestSignupLimitBehindATrustedProxy(t *testing.T) {
	t.Parallel()
	be := setupBilling(t, auth.LimitOptions{Burst: 1, Every: time.Hour})
	be.s.proxies = trustedProxies{netip.MustParsePrefix("10.0.0.0/8")}
	signupFrom := func(xff, email string) *httptest.ResponseRecorder {
		body, _ := json.Marshal(signupBody(email))
		req := httptest.NewRequest("POST", "/api/signup", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "10.0.0.2:40000"
		req.Header.Set("X-Forwarded-For", xff)
		return serve(be.env, req)
	}
	if rec := signupFrom("198.51.100.1", "uno@barberia.co"); rec.Code != 201 {
		t.Fatalf("first client's signup = %d %s", rec.Code, rec.Body.String())
	}
	wantError(t, signupFrom("198.51.100.1", "dos@barberia.co"), 429, "too_many_requests")
	if rec := signupFrom("198.51.100.2", "tres@barberia.co"); rec.Code != 201 {
		t.Fatalf("second client's signup = %d %s; want its own budget", rec.Code, rec.Body.String())
	}
}
