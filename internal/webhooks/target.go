package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrTargetRefused is returned for a URL or address webhooks may not be sent to.
var ErrTargetRefused = errors.New("webhook target refused")

// refusedPrefixes are special-purpose ranges that netip's predicates do not cover.
var refusedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may map to a private IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: may embed a private IPv4 address
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
	netip.MustParsePrefix("100::/64"),        // discard
}

// PublicAddr reports whether webhooks may connect to ip outside development: not loopback,
// private (RFC 1918, fc00::/7), link-local (169.254/16 with the cloud metadata address,
// fe80::/10), unspecified, multicast or another special-purpose range.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range refusedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// lookupTimeout bounds the DNS lookup of a URL's host when a subscription is saved.
const lookupTimeout = 5 * time.Second

// checkURL validates a subscription's URL: an absolute http(s) URL without credentials or
// fragment; outside development https only, and a host whose every address is public.
func (s *Service) checkURL(ctx context.Context, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > 2000 {
		return "", invalid("url", "must be an absolute URL of at most 2000 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", invalid("url", "must be an absolute URL such as https://example.com/webhooks")
	}
	if u.User != nil {
		return "", invalid("url", "must not carry a user name or password")
	}
	if u.Fragment != "" {
		return "", invalid("url", "must not have a fragment (#...)")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && s.opts.Development:
	default:
		return "", invalid("url", "must use https")
	}
	if s.opts.Development {
		return u.String(), nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !PublicAddr(ip) {
			return "", refused("url", "points to a private, loopback, link-local or reserved address (%s)", ip)
		}
		return u.String(), nil
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return "", refused("url", "points to localhost")
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := s.lookup(lctx, host)
	if err != nil || len(addrs) == 0 {
		return "", invalid("url", "the host %s could not be resolved", host)
	}
	for _, ip := range addrs {
		if !PublicAddr(ip) {
			return "", refused("url", "the host %s resolves to a private, loopback, link-local or reserved address (%s)", host, ip.Unmap())
		}
	}
	return u.String(), nil
}

func (s *Service) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if s.opts.LookupHost != nil {
		return s.opts.LookupHost(ctx, host)
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// dialControl refuses, outside development, a connection to an address that is not public. It
// runs on the address actually dialled, after DNS resolution.
func dialControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read the address %q", ErrTargetRefused, address)
	}
	if !PublicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s is a private, loopback, link-local or reserved address", ErrTargetRefused, ap.Addr().Unmap())
	}
	return nil
}

// maxResponseHeaderBytes bounds a receiver's response headers.
const maxResponseHeaderBytes = 64 << 10

// newHTTPClient returns the deliverer's client: no proxy (a proxy would dial for us, unchecked),
// no redirects, the dial check outside development, and timeout over the whole exchange.
func newHTTPClient(dev bool, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !dev {
		d.Control = dialControl
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        60 * time.Second,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
