package netid

import (
	"net/netip"
	"strings"
)

// forwardedClient finds the client in the X-Forwarded-For values of a request
// whose TCP peer is a trusted proxy.
//
// The chain is every entry of every X-Forwarded-For line, in order, followed by
// the peer itself. It is read right to left: the first address that is not a
// trusted proxy is the client. Each proxy appends the address it received the
// connection from, so every entry right of that one was written by a proxy the
// operator trusts, and everything left of it is the client's own claim.
//
//   - Every entry trusted: the left-most one is the client (a request that
//     started at a trusted host, or went through trusted proxies only).
//   - A malformed entry (not an IP address, IP:port or [IPv6]:port; an IPv6
//     zone; an unspecified address; "unknown"; an obfuscated identifier)
//     reached by the walk is where the client should stand: the trusted
//     proxies vouch for a client they could not name. Nothing is believed
//     then, not even the proxy's own address: ok is false and the request has
//     no network identity (denied, fail closed), exactly like a PROXY header
//     that announces an unspecified client. Garbage left of the client is
//     never reached, so it does not matter.
//   - A missing header (or one with no entries) is a request that starts at
//     the proxy itself: the peer is the client.
//   - Empty list elements ("a, , b", a trailing comma) are skipped, as HTTP
//     list syntax requires (RFC 9110 5.6.1); spaces and tabs around an entry
//     are ignored.
//
// Addresses are returned unmapped (IPv4-mapped IPv6 becomes IPv4). The
// standard Forwarded header (RFC 7239) is not read.
func forwardedClient(values []string, peer netip.Addr, trusted func(netip.Addr) bool) (netip.Addr, bool) {
	last := peer
	for i := len(values) - 1; i >= 0; i-- {
		rest := values[i]
		for {
			comma := strings.LastIndexByte(rest, ',')
			entry := strings.Trim(rest[comma+1:], " \t")
			if entry != "" {
				a, ok := parseForwarded(entry)
				if !ok {
					return netip.Addr{}, false
				}
				if !trusted(a) {
					return a, true
				}
				last = a
			}
			if comma < 0 {
				break
			}
			rest = rest[:comma]
		}
	}
	return last, true
}

// parseForwarded parses one X-Forwarded-For entry: an IPv4 or IPv6 address,
// optionally with a port (1.2.3.4:80, [2001:db8::1]:443) or brackets
// ([2001:db8::1]), as some proxies write it.
func parseForwarded(s string) (netip.Addr, bool) {
	var a netip.Addr
	switch {
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		v, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil || !v.Is6() {
			return netip.Addr{}, false
		}
		a = v
	default:
		v, err := netip.ParseAddr(s)
		if err != nil {
			ap, err := netip.ParseAddrPort(s)
			if err != nil {
				return netip.Addr{}, false
			}
			v = ap.Addr()
		}
		a = v
	}
	if a.Zone() != "" || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
