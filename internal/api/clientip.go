package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// trustedProxies are the proxies whose X-Forwarded-For the API believes.
type trustedProxies []netip.Prefix

// trusts reports whether a is one of the proxies.
func (p trustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, pr := range p {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of the client that sent r. It is the peer's address unless the peer
// is a trusted proxy. Then X-Forwarded-For is read from the right: each trusted proxy appended
// the address it received from, so the first entry that is not a trusted proxy is the client.
// Entries left of it may be forged by the client and are never read. An entry that is not an
// address stops the walk at the last trusted hop. When every entry is trusted, the leftmost is
// the client.
func (p trustedProxies) clientAddr(r *http.Request) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil || len(p) == 0 || !p.trusts(addr) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	client := addr
	for i := len(hops) - 1; i >= 0; i-- {
		entries := strings.Split(hops[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			a, ok := parseForwarded(entries[j])
			if !ok {
				return client.String()
			}
			client = a
			if !p.trusts(a) {
				return client.String()
			}
		}
	}
	return client.String()
}

// parseForwarded reads one X-Forwarded-For entry: an address, possibly with a port
// ("203.0.113.7:4711", "[2001:db8::1]:4711").
func parseForwarded(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
