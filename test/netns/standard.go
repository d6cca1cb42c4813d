package netns

import (
	"net/netip"
	"testing"
)

// Host names of the standard topology.
const (
	Moat     = "moat"      // the registry host
	Internet = "internet"  // a client on the internet
	LB       = "lb"        // a proxy / load balancer in front of moat's public address
	CorpA    = "corp-a"    // a client in subnet A of the virtual network
	CorpB    = "corp-b"    // a client in subnet B
	PEClient = "pe-client" // a client in subnet C that uses the private endpoint
)

// Addresses of the standard topology. They exist only inside the namespaces.
var (
	// Internet segment 16.17.18.0/24 (router .1).
	InternetIP = netip.MustParseAddr("16.17.18.19")
	// Edge segment 198.51.100.0/24 (router .1): moat's public side and a proxy.
	MoatPublicIP = netip.MustParseAddr("198.51.100.10")
	LBIP         = netip.MustParseAddr("198.51.100.20")
	// The virtual network 10.77.0.0/16.
	VNet = netip.MustParsePrefix("10.77.0.0/16")
	// Ingress segment 10.77.0.0/24 (router .254): moat's virtual-network side.
	MoatVNetIP = netip.MustParseAddr("10.77.0.1")
	// PE subnet 10.77.3.0/24 lives on moat's ingress interface (the router
	// routes it to 10.77.0.1): 10.77.3.4 is the private endpoint's IP; add
	// more with Host.IP(t, "addr", "add", "10.77.3.5/32", "dev", "eth1").
	PESubnet          = netip.MustParsePrefix("10.77.3.0/24")
	PrivateEndpointIP = netip.MustParseAddr("10.77.3.4")
	// Client subnets (router .1 each).
	SubnetA    = netip.MustParsePrefix("10.77.1.0/24")
	SubnetB    = netip.MustParsePrefix("10.77.2.0/24")
	SubnetC    = netip.MustParsePrefix("10.77.4.0/24")
	CorpAIP    = netip.MustParseAddr("10.77.1.10")
	CorpBIP    = netip.MustParseAddr("10.77.2.10")
	PEClientIP = netip.MustParseAddr("10.77.4.10")
)

// StandardSpec is the topology of moat's network tests:
//
//	internet 16.17.18.19 ─┐                         ┌─ moat eth0 198.51.100.10  (public listener)
//	                      ├─ fabric (router) ──edge─┤  lb        198.51.100.20  (a proxy)
//	corp-a 10.77.1.10 ─A──┤                         └
//	corp-b 10.77.2.10 ─B──┤
//	pe-client 10.77.4.10 C┤
//	                      └──ingress── moat eth1 10.77.0.1 (virtual-network listener)
//	                                           + 10.77.3.4/32 (private endpoint)
//
// Routes: the internet host reaches only the edge segment (198.51.100.0/24),
// never the virtual network. Virtual-network clients reach the whole virtual
// network 10.77.0.0/16 and the edge segment. The lb reaches the internet and
// moat's public address. moat answers the internet via the edge and the
// virtual network via the ingress segment. No host has a default route.
func StandardSpec() Spec {
	p := netip.MustParsePrefix
	host := func(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, 32) }
	edge := p("198.51.100.0/24")
	internet := p("16.17.18.0/24")
	return Spec{
		Segments: []Segment{
			{Name: "internet", Gateway: p("16.17.18.1/24")},
			{Name: "edge", Gateway: p("198.51.100.1/24")},
			{Name: "ingress", Gateway: p("10.77.0.254/24")},
			{Name: "subnet-a", Gateway: p("10.77.1.1/24")},
			{Name: "subnet-b", Gateway: p("10.77.2.1/24")},
			{Name: "subnet-c", Gateway: p("10.77.4.1/24")},
		},
		Hosts: []HostSpec{
			{Name: Moat, NICs: []NIC{
				{Segment: "edge", Addrs: []netip.Prefix{host(MoatPublicIP)}, Routes: []netip.Prefix{internet}},
				{Segment: "ingress", Addrs: []netip.Prefix{host(MoatVNetIP), host(PrivateEndpointIP)}, Routes: []netip.Prefix{VNet}},
			}},
			{Name: Internet, NICs: []NIC{{Segment: "internet", Addrs: []netip.Prefix{host(InternetIP)}, Routes: []netip.Prefix{edge}}}},
			{Name: LB, NICs: []NIC{{Segment: "edge", Addrs: []netip.Prefix{host(LBIP)}, Routes: []netip.Prefix{internet}}}},
			{Name: CorpA, NICs: []NIC{{Segment: "subnet-a", Addrs: []netip.Prefix{host(CorpAIP)}, Routes: []netip.Prefix{VNet, edge}}}},
			{Name: CorpB, NICs: []NIC{{Segment: "subnet-b", Addrs: []netip.Prefix{host(CorpBIP)}, Routes: []netip.Prefix{VNet, edge}}}},
			{Name: PEClient, NICs: []NIC{{Segment: "subnet-c", Addrs: []netip.Prefix{host(PEClientIP)}, Routes: []netip.Prefix{VNet, edge}}}},
		},
		RouterRoutes: []Route{{To: PESubnet, Via: MoatVNetIP}},
	}
}

// Standard builds StandardSpec.
func Standard(t testing.TB) *Net {
	t.Helper()
	return New(t, StandardSpec())
}
