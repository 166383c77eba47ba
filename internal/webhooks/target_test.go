package webhooks_test

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/webhooks"
)

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:4700::1111": true, "8.8.8.8": true,
		"127.0.0.1": false, "127.9.9.9": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "fe80::1": false, "fc00::1": false, "fd12::1": false,
		"0.0.0.0": false, "::": false, "224.0.0.1": false, "ff02::1": false, "100.64.0.1": false,
		"::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "255.255.255.255": false, "64:ff9b::a00:1": false,
	} {
		if got := webhooks.PublicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	// Production rules; the "DNS" says what each test host resolves to.
	dns := map[string][]netip.Addr{
		"hooks.example.com":    {netip.MustParseAddr("93.184.216.34")},
		"internal.example.com": {netip.MustParseAddr("192.168.10.5")},
		"mixed.example.com":    {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.8")},
		"metadata.example.com": {netip.MustParseAddr("169.254.169.254")},
	}
	e := setup(t, webhooks.Options{LookupHost: func(_ context.Context, host string) ([]netip.Addr, error) {
		if a, ok := dns[host]; ok {
			return a, nil
		}
		return nil, errors.New("no such host")
	}})
	prepare := func(raw string) error {
		_, err := e.svc.Prepare(t.Context(), webhooks.SubscriptionInput{URL: &raw, Events: []string{webhooks.EventAppointmentCreated}}, true)
		return err
	}

	t.Run("RefusesPrivateTargetsAtSubscriptionTime", func(t *testing.T) {
		for _, raw := range []string{
			"https://127.0.0.1/hook", "https://[::1]/hook", "https://10.0.0.1/hook", "https://172.20.1.1/hook",
			"https://192.168.0.10/hook", "https://169.254.169.254/latest/meta-data", "https://[fe80::1]/hook",
			"https://[fd00::5]/hook", "https://0.0.0.0/hook", "https://224.0.0.1/hook", "https://localhost/hook",
			"https://internal.example.com/hook", "https://mixed.example.com/hook", "https://metadata.example.com/",
			"https://[::ffff:127.0.0.1]/hook",
		} {
			if err := prepare(raw); !errors.Is(err, webhooks.ErrTargetRefused) || !errors.Is(err, webhooks.ErrInvalid) {
				t.Errorf("%s: %v; want a refused target", raw, err)
			}
		}
	})

	t.Run("RefusesMalformedURLs", func(t *testing.T) {
		for _, raw := range []string{"", "hooks.example.com/x", "http://hooks.example.com/hook", "ftp://hooks.example.com/",
			"https://user:pw@hooks.example.com/", "https://hooks.example.com/#x", "https://nowhere.example.com/",
			"https://" + strings.Repeat("a", 2000) + ".com/"} {
			if err := prepare(raw); !errors.Is(err, webhooks.ErrInvalid) {
				t.Errorf("%q: %v; want invalid", raw, err)
			}
		}
		for _, in := range []webhooks.SubscriptionInput{
			{URL: new(string), Events: []string{"appointment.created"}},
			{URL: ptr("https://hooks.example.com/"), Events: []string{"appointment.deleted"}},
			{URL: ptr("https://hooks.example.com/"), Events: []string{}},
			{URL: ptr("https://hooks.example.com/")},
		} {
			if _, err := e.svc.Prepare(t.Context(), in, true); !errors.Is(err, webhooks.ErrInvalid) {
				t.Errorf("%+v: %v; want invalid", in, err)
			}
		}
	})

	t.Run("AcceptsAPublicHTTPSTarget", func(t *testing.T) {
		if err := prepare("https://hooks.example.com/appcitas"); err != nil {
			t.Fatal(err)
		}
		if err := prepare("https://93.184.216.34:8443/x"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("RefusesAtDialTimeAHostThatNowResolvesToLoopback", func(t *testing.T) {
		rcv := newReceiver(t)
		u, _ := url.Parse(rcv.URL)
		o := e.newOrg(t, "Rebind")
		// The name resolved to a public address when it was saved (DNS rebinding): the row is
		// written as Prepare would have, and localhost resolves to 127.0.0.1 when dialled.
		var subID int64
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `INSERT INTO webhooks_suscripcion (url, eventos, secreto) VALUES ($1, '{appointment.created}', 'whsec_x')
				RETURNING id`, "https://localhost:"+u.Port()+"/hook").Scan(&subID)
		})
		o.book(t)
		o.deliver(t)
		if n := len(rcv.requests()); n != 0 {
			t.Fatalf("the receiver on 127.0.0.1 got %d requests", n)
		}
		d := o.deliveries(t, subID)[0]
		if d.State != webhooks.StatePending || len(d.Log) == 0 || d.Log[0].StatusCode != nil ||
			!strings.Contains(d.Log[0].Error, "webhook target refused") ||
			!(strings.Contains(d.Log[0].Error, "127.0.0.1") || strings.Contains(d.Log[0].Error, "::1")) {
			t.Fatalf("delivery %+v: want a refused attempt, to be retried", d)
		}
	})

	t.Run("DevelopmentAllowsLoopbackHTTP", func(t *testing.T) {
		dev := webhooks.New(e.m, webhooks.Options{Development: true})
		raw := "http://127.0.0.1:8080/hook"
		if _, err := dev.Prepare(t.Context(), webhooks.SubscriptionInput{URL: &raw, Events: []string{webhooks.EventClientCreated}}, true); err != nil {
			t.Fatal(err)
		}
	})
}

func ptr[T any](v T) *T { return &v }
