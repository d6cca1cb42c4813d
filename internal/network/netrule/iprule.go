// Package netrule parses and checks the values of registry network rules.
package netrule

import (
	"fmt"
	"net/netip"
	"strings"
)

// refused are ranges no IP rule may name or cover: rules are for public
// internet addresses only (private ranges reach a registry through virtual
// networks and private endpoints instead).
var refused = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "the unspecified/\"this network\" range"},
	{netip.MustParsePrefix("10.0.0.0/8"), "the private range 10.0.0.0/8 (RFC 1918)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "the loopback range"},
	{netip.MustParsePrefix("169.254.0.0/16"), "the link-local range"},
	{netip.MustParsePrefix("172.16.0.0/12"), "the private range 172.16.0.0/12 (RFC 1918)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "the private range 192.168.0.0/16 (RFC 1918)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "the multicast range"},
	{netip.MustParsePrefix("::/128"), "the unspecified address"},
	{netip.MustParsePrefix("::1/128"), "the loopback address"},
	{netip.MustParsePrefix("fc00::/7"), "the unique-local (private) range fc00::/7"},
	{netip.MustParsePrefix("fe80::/10"), "the link-local range"},
	{netip.MustParsePrefix("ff00::/8"), "the multicast range"},
}

// ParseIPRule parses an IP rule value: an IPv4 or IPv6 address or CIDR prefix
// of public addresses. A single address becomes a /32 or /128, so "1.2.3.4"
// and "1.2.3.4/32" are the same rule. The error says how to fix the value.
func ParseIPRule(v string) (netip.Prefix, error) {
	v = strings.TrimSpace(v)
	var p netip.Prefix
	if strings.Contains(v, "/") {
		var err error
		if p, err = netip.ParsePrefix(v); err != nil {
			return p, fmt.Errorf("%q is not a valid IP address or CIDR prefix (e.g. 16.17.18.0/24 or 2001:db8::/48)", v)
		}
	} else {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return p, fmt.Errorf("%q is not a valid IP address or CIDR prefix (e.g. 16.17.18.19 or 16.17.18.0/24)", v)
		}
		if a.Zone() != "" {
			return p, fmt.Errorf("%q: an IP rule cannot have a zone", v)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return p, fmt.Errorf("%q covers non-IPv4-mapped addresses; write the IPv4 prefix instead", v)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), bits)
	}
	if m := p.Masked(); m != p {
		return p, fmt.Errorf("%q has host bits set; the canonical prefix is %s", v, m)
	}
	for _, r := range refused {
		if r.prefix.Addr().Is4() != p.Addr().Is4() {
			continue
		}
		if r.prefix.Overlaps(p) {
			if p.Bits() == 0 {
				return p, fmt.Errorf("%q would allow every address; to allow all networks use --default-action Allow instead of an IP rule", v)
			}
			if p.Bits() < r.prefix.Bits() {
				return p, fmt.Errorf("%q covers %s; IP rules are for public internet addresses only (use a virtual-network rule or a private endpoint for private networks)", v, r.what)
			}
			return p, fmt.Errorf("%q is in %s; IP rules are for public internet addresses only (use a virtual-network rule or a private endpoint for private networks)", v, r.what)
		}
	}
	return p, nil
}

// FormatIPRule is the canonical text of a rule: a bare address for a single
// host (as the cloud shows it), else the prefix.
func FormatIPRule(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}
