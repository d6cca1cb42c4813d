package netid

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/config"
	"github.com/pires/go-proxyproto"
)

// A case sends one request over real TCP on loopback: from a chosen source
// address, optionally opening with a PROXY header, with raw header lines.
type tcpCase struct {
	name    string
	cfg     config.Listener // Address defaults to 127.0.0.1:0
	topo    Topology
	from    string // source address; "" = 127.0.0.1
	prefix  []byte // bytes sent before the request (PROXY header)
	lines   []string
	want    Identity
	wantOK  bool
	closeIt bool // the server must close the connection without answering
}

func runTCPCases(t *testing.T, cases []tcpCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.Name == "" {
				cfg.Name = "l1"
			}
			if cfg.Address == "" {
				cfg.Address = "127.0.0.1:0"
			}
			a := start(t, cfg, tc.topo)
			from := tc.from
			if from == "" {
				from = "127.0.0.1"
			}
			got, err := dial(t, a, from, tc.prefix).get(tc.lines...)
			if tc.closeIt {
				if err == nil {
					t.Fatalf("served (%v), want the connection closed", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("connection closed, want %+v", tc.want)
			}
			if got.OK != tc.wantOK || got.ID != tc.want {
				t.Fatalf("got %v, want ok=%v %+v", got, tc.wantOK, tc.want)
			}
		})
	}
}

var (
	trustLoopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	trustChain    = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
)

func public(ip string) Identity {
	return Identity{Path: Public, ClientIP: addr(ip), Listener: "l1"}
}

func TestPublicListener(t *testing.T) {
	pub := config.Listener{Kind: config.KindPublic}
	trusted := config.Listener{Kind: config.KindPublic, TrustedProxies: trustLoopback}
	chain := config.Listener{Kind: config.KindPublic, TrustedProxies: trustChain}
	runTCPCases(t, []tcpCase{
		{name: "direct client is the TCP peer", cfg: pub, want: public("127.0.0.1"), wantOK: true},
		{name: "kind defaults to public", cfg: config.Listener{}, want: public("127.0.0.1"), wantOK: true},
		{name: "other loopback source", cfg: pub, from: "127.0.0.9", want: public("127.0.0.9"), wantOK: true},
		// Trust is by TCP peer: 127.0.0.1 is trusted only when listed.
		{name: "peer not in trusted prefixes ignores XFF", cfg: config.Listener{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}},
			lines: []string{"X-Forwarded-For: 16.17.18.19"}, want: public("127.0.0.1"), wantOK: true},
		{name: "trusted by wider prefix", cfg: config.Listener{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
			lines: []string{"X-Forwarded-For: 16.17.18.19"}, want: public("16.17.18.19"), wantOK: true},
		{name: "trusted by IPv4-mapped prefix", cfg: config.Listener{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.1/128")}},
			lines: []string{"X-Forwarded-For: 16.17.18.19"}, want: public("16.17.18.19"), wantOK: true},
		{name: "trusted peer without headers is the client", cfg: trusted, want: public("127.0.0.1"), wantOK: true},

		// PROXY protocol from a trusted proxy.
		{name: "PROXY v1 from trusted", cfg: trusted, prefix: proxyHeader(t, 1, "16.17.18.19:5555", "198.51.100.10:443"),
			want: public("16.17.18.19"), wantOK: true},
		{name: "PROXY v2 from trusted", cfg: trusted, prefix: proxyHeader(t, 2, "16.17.18.19:5555", "198.51.100.10:443"),
			want: public("16.17.18.19"), wantOK: true},
		{name: "PROXY v1 IPv6 from trusted", cfg: trusted, prefix: proxyHeader(t, 1, "[2001:db8::7]:5555", "[2001:db8::1]:443"),
			want: public("2001:db8::7"), wantOK: true},
		{name: "PROXY v2 IPv4-mapped source is unmapped", cfg: trusted,
			prefix: rawHeader(t, &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv6,
				SourceAddr: tcpAddr("[::ffff:16.17.18.19]:5555"), DestinationAddr: tcpAddr("[::ffff:198.51.100.10]:443")}),
			want: public("16.17.18.19"), wantOK: true},
		{name: "PROXY wins over XFF", cfg: trusted, prefix: proxyHeader(t, 2, "16.17.18.19:5555", "198.51.100.10:443"),
			lines: []string{"X-Forwarded-For: 203.0.113.9"}, want: public("16.17.18.19"), wantOK: true},
		{name: "PROXY v2 LOCAL uses the real endpoints", cfg: trusted,
			prefix: rawHeader(t, &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}),
			want:   public("127.0.0.1"), wantOK: true},
		{name: "PROXY v2 LOCAL then trusted XFF", cfg: trusted,
			prefix: rawHeader(t, &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}),
			lines:  []string{"X-Forwarded-For: 16.17.18.19"}, want: public("16.17.18.19"), wantOK: true},
		// The PROXY protocol: UNKNOWN and AF_UNSPEC mean "use the real connection's endpoints".
		{name: "PROXY v1 UNKNOWN uses the real endpoints", cfg: trusted, prefix: []byte("PROXY UNKNOWN\r\n"), want: public("127.0.0.1"), wantOK: true},
		{name: "PROXY v1 UNKNOWN with addresses ignores them", cfg: trusted, prefix: []byte("PROXY UNKNOWN 16.17.18.19 198.51.100.10 1 443\r\n"), want: public("127.0.0.1"), wantOK: true},
		{name: "PROXY v1 UNKNOWN then trusted XFF", cfg: trusted, prefix: []byte("PROXY UNKNOWN\r\n"),
			lines: []string{"X-Forwarded-For: 16.17.18.19"}, want: public("16.17.18.19"), wantOK: true},
		// v2 health checks are LOCAL (with AF_UNSPEC): above. A PROXY command with
		// AF_UNSPEC is one the spec lets the receiver refuse; go-proxyproto does.
		{name: "PROXY v2 PROXY command with AF_UNSPEC closes", cfg: trusted,
			prefix: rawHeader(t, &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.UNSPEC}), closeIt: true},
		{name: "PROXY v2 UDP: no identity", cfg: trusted,
			prefix: rawHeader(t, &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.UDPv4,
				SourceAddr: &net.UDPAddr{IP: net.ParseIP("16.17.18.19"), Port: 5}, DestinationAddr: &net.UDPAddr{IP: net.ParseIP("198.51.100.10"), Port: 443}}),
			wantOK: false},
		{name: "PROXY v1 unspecified source: no identity", cfg: trusted,
			prefix: []byte("PROXY TCP4 0.0.0.0 198.51.100.10 5555 443\r\n"), wantOK: false},
		{name: "malformed PROXY from trusted closes", cfg: trusted, prefix: []byte("PROXY TCP4 16.17.18.19\r\n"), closeIt: true},

		// X-Forwarded-For from a trusted proxy, right to left.
		{name: "XFF one entry", cfg: trusted, lines: []string{"X-Forwarded-For: 16.17.18.19"}, want: public("16.17.18.19"), wantOK: true},
		{name: "XFF right-most untrusted wins over a forged left part", cfg: trusted,
			lines: []string{"X-Forwarded-For: 203.0.113.7, 16.17.18.19"}, want: public("16.17.18.19"), wantOK: true},
		{name: "XFF skips trusted hops", cfg: chain,
			lines: []string{"X-Forwarded-For: 203.0.113.7, 16.17.18.19, 10.1.1.1, 10.2.2.2"}, want: public("16.17.18.19"), wantOK: true},
		{name: "XFF over several lines", cfg: chain,
			lines: []string{"X-Forwarded-For: 203.0.113.7", "X-Forwarded-For: 16.17.18.19, 10.1.1.1"}, want: public("16.17.18.19"), wantOK: true},
		{name: "XFF walk crosses lines", cfg: chain,
			lines: []string{"X-Forwarded-For: 16.17.18.19", "X-Forwarded-For: 10.1.1.1"}, want: public("16.17.18.19"), wantOK: true},
		{name: "XFF all trusted: left-most", cfg: chain,
			lines: []string{"X-Forwarded-For: 10.1.1.2, 10.1.1.1"}, want: public("10.1.1.2"), wantOK: true},
		// Where the client should stand, an unusable entry: no identity (fail closed, as PROXY 0.0.0.0).
		{name: "XFF malformed entry behind trusted hops: no identity", cfg: chain,
			lines: []string{"X-Forwarded-For: 16.17.18.19, unknown, 10.1.1.1"}, wantOK: false},
		{name: "XFF right-most malformed: no identity", cfg: chain,
			lines: []string{"X-Forwarded-For: 16.17.18.19, not-an-ip"}, wantOK: false},
		{name: "XFF unknown: no identity", cfg: trusted, lines: []string{"X-Forwarded-For: unknown"}, wantOK: false},
		{name: "XFF unspecified: no identity", cfg: trusted, lines: []string{"X-Forwarded-For: 0.0.0.0"}, wantOK: false},
		{name: "XFF unspecified IPv6: no identity", cfg: trusted, lines: []string{"X-Forwarded-For: ::"}, wantOK: false},
		{name: "XFF zoned: no identity", cfg: trusted, lines: []string{"X-Forwarded-For: fe80::1%eth0"}, wantOK: false},
		{name: "XFF garbage left of the client is never reached", cfg: trusted,
			lines: []string{"X-Forwarded-For: unknown, 16.17.18.19"}, want: public("16.17.18.19"), wantOK: true},
		{name: "XFF without entries: the peer", cfg: trusted, lines: []string{"X-Forwarded-For: , ,"}, want: public("127.0.0.1"), wantOK: true},
		{name: "XFF with port", cfg: trusted, lines: []string{"X-Forwarded-For: 16.17.18.19:4711"}, want: public("16.17.18.19"), wantOK: true},
		{name: "XFF bracketed IPv6 with port", cfg: trusted, lines: []string{"X-Forwarded-For: [2001:db8::5]:443"}, want: public("2001:db8::5"), wantOK: true},
		{name: "XFF IPv6", cfg: trusted, lines: []string{"X-Forwarded-For: 2001:db8::5"}, want: public("2001:db8::5"), wantOK: true},
		{name: "XFF IPv4-mapped is unmapped", cfg: trusted, lines: []string{"X-Forwarded-For: ::ffff:16.17.18.19"}, want: public("16.17.18.19"), wantOK: true},
		{name: "XFF empty elements skipped", cfg: trusted, lines: []string{"X-Forwarded-For: 16.17.18.19, ,"}, want: public("16.17.18.19"), wantOK: true},
		{name: "XFF lower-case header name", cfg: trusted, lines: []string{"x-forwarded-for: 16.17.18.19"}, want: public("16.17.18.19"), wantOK: true},
	})
}

// Spoofing: an untrusted peer gains nothing from forged headers.
func TestSpoofingFromUntrustedPeer(t *testing.T) {
	pub := config.Listener{Kind: config.KindPublic} // no trusted proxies
	other := config.Listener{Kind: config.KindPublic, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32"), netip.MustParsePrefix("16.17.18.0/24")}}
	vnet := config.Listener{Kind: config.KindVirtualNetwork, VirtualNetwork: vnetID, Address: "127.0.0.2:0"}
	runTCPCases(t, []tcpCase{
		{name: "forged XFF ignored", cfg: pub, lines: []string{"X-Forwarded-For: 16.17.18.19"}, want: public("127.0.0.1"), wantOK: true},
		{name: "forged XFF naming a trusted proxy ignored", cfg: other,
			lines: []string{"X-Forwarded-For: 16.17.18.19, 192.0.2.10"}, want: public("127.0.0.1"), wantOK: true},
		{name: "forged X-Real-IP and Forwarded ignored", cfg: pub,
			lines: []string{"X-Real-IP: 16.17.18.19", "Forwarded: for=16.17.18.19"}, want: public("127.0.0.1"), wantOK: true},
		{name: "forged PROXY v1 closes", cfg: pub, prefix: proxyHeader(t, 1, "16.17.18.19:1", "127.0.0.1:443"), closeIt: true},
		{name: "forged PROXY v2 closes", cfg: pub, prefix: proxyHeader(t, 2, "16.17.18.19:1", "127.0.0.1:443"), closeIt: true},
		{name: "forged PROXY v2 LOCAL closes", cfg: pub,
			prefix: rawHeader(t, &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}), closeIt: true},
		{name: "forged PROXY to a listener trusting others closes", cfg: other, prefix: proxyHeader(t, 2, "16.17.18.19:1", "127.0.0.1:443"), closeIt: true},
		{name: "forged PROXY naming a private endpoint closes", cfg: vnet, topo: fakeTopo{},
			prefix: proxyHeader(t, 2, "10.77.1.10:1", "10.77.3.4:443"), closeIt: true},
		{name: "forged XFF from a subnet on a vnet listener ignored", cfg: vnet, topo: fakeTopo{},
			lines: []string{"X-Forwarded-For: 10.77.1.10"}, want: vnetPublic("127.0.0.1"), wantOK: true},
	})
}

func vnetPublic(ip string) Identity {
	return Identity{Path: Public, ClientIP: addr(ip), Listener: "l1", VirtualNetwork: strings.ToLower(vnetID)}
}

func TestVirtualNetworkListener(t *testing.T) {
	lvnet := strings.ToLower(vnetID)
	vn := func(address string, trusted ...string) config.Listener {
		l := config.Listener{Kind: config.KindVirtualNetwork, VirtualNetwork: vnetID, Address: address}
		for _, p := range trusted {
			l.TrustedProxies = append(l.TrustedProxies, netip.MustParsePrefix(p))
		}
		return l
	}
	pe := func(src string) Identity {
		return Identity{Path: PrivateEndpoint, ClientIP: addr(src), Listener: "l1", VirtualNetwork: lvnet, PrivateEndpoint: strings.ToLower(peID)}
	}
	se := func(src string) Identity {
		return Identity{Path: ServiceEndpoint, ClientIP: addr(src), Listener: "l1", VirtualNetwork: lvnet, Subnet: strings.ToLower(subnetA)}
	}
	topo := fakeTopo{}
	runTCPCases(t, []tcpCase{
		{name: "destination is a private endpoint", cfg: vn("127.0.0.3:0"), topo: topo, from: "127.0.0.1", want: pe("127.0.0.1"), wantOK: true},
		{name: "private endpoint wins over service endpoint", cfg: vn("127.0.0.3:0"), topo: topo, from: "127.0.0.17", want: pe("127.0.0.17"), wantOK: true},
		{name: "source in subnet with service endpoint", cfg: vn("127.0.0.2:0"), topo: topo, from: "127.0.0.17", want: se("127.0.0.17"), wantOK: true},
		{name: "source in subnet without service endpoint", cfg: vn("127.0.0.2:0"), topo: topo, from: "127.0.0.33", want: vnetPublic("127.0.0.33"), wantOK: true},
		{name: "source outside every subnet", cfg: vn("127.0.0.2:0"), topo: topo, from: "127.0.0.1", want: vnetPublic("127.0.0.1"), wantOK: true},
		{name: "wildcard address: destination is the local address", cfg: vn("0.0.0.0:0"), topo: topo, from: "127.0.0.17", want: se("127.0.0.17"), wantOK: true},
		{name: "virtual network not known yet: public", topo: topo, from: "127.0.0.17",
			cfg:  config.Listener{Kind: config.KindVirtualNetwork, VirtualNetwork: otherVnet, Address: "127.0.0.3:0"},
			want: Identity{Path: Public, ClientIP: addr("127.0.0.17"), Listener: "l1", VirtualNetwork: strings.ToLower(otherVnet)}, wantOK: true},
		{name: "nil topology: public", cfg: vn("127.0.0.3:0"), from: "127.0.0.17", want: vnetPublic("127.0.0.17"), wantOK: true},
		{name: "topology answering without an ID: no identity", cfg: vn("127.0.0.3:0"), topo: fakeTopo{emptyIDs: true}, wantOK: false},
		{name: "XFF from a trusted proxy is not used", cfg: vn("127.0.0.2:0", "127.0.0.1/32"), topo: topo,
			lines: []string{"X-Forwarded-For: 10.77.1.10"}, want: vnetPublic("127.0.0.1"), wantOK: true},
		{name: "PROXY destination is a private endpoint", cfg: vn("127.0.0.2:0", "127.0.0.1/32"), topo: topo,
			prefix: proxyHeader(t, 2, "10.77.2.10:4000", "10.77.3.4:443"), want: pe("10.77.2.10"), wantOK: true},
		{name: "PROXY source in service-endpoint subnet", cfg: vn("127.0.0.2:0", "127.0.0.1/32"), topo: topo,
			prefix: proxyHeader(t, 1, "10.77.1.10:4000", "10.77.0.1:443"), want: se("10.77.1.10"), wantOK: true},
		{name: "PROXY source elsewhere: public", cfg: vn("127.0.0.2:0", "127.0.0.1/32"), topo: topo,
			prefix: proxyHeader(t, 2, "10.77.2.10:4000", "10.77.0.1:443"), want: vnetPublic("10.77.2.10"), wantOK: true},
		{name: "PROXY v2 IPv4-mapped addresses are unmapped", cfg: vn("127.0.0.2:0", "127.0.0.1/32"), topo: topo,
			prefix: rawHeader(t, &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv6,
				SourceAddr: tcpAddr("[::ffff:10.77.1.10]:5555"), DestinationAddr: tcpAddr("[::ffff:10.77.3.4]:443")}),
			want: pe("10.77.1.10"), wantOK: true},
		{name: "PROXY v2 LOCAL: real endpoints", cfg: vn("127.0.0.3:0", "127.0.0.1/32"), topo: topo,
			prefix: rawHeader(t, &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}),
			want:   pe("127.0.0.1"), wantOK: true},
		{name: "PROXY v1 UNKNOWN: real endpoints", cfg: vn("127.0.0.3:0", "127.0.0.1/32"), topo: topo, prefix: []byte("PROXY UNKNOWN\r\n"), want: pe("127.0.0.1"), wantOK: true},
	})
}

// A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d; identities and
// trust use the unmapped address.
func TestDualStackUnmapsPeer(t *testing.T) {
	probe, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Skipf("no IPv6 on this host: %v", err)
	}
	probe.Close()
	runTCPCases(t, []tcpCase{
		{name: "peer unmapped", cfg: config.Listener{Address: "[::]:0"}, want: public("127.0.0.1"), wantOK: true},
		{name: "trust matches unmapped peer", cfg: config.Listener{Address: "[::]:0", TrustedProxies: trustLoopback},
			lines: []string{"X-Forwarded-For: 16.17.18.19"}, want: public("16.17.18.19"), wantOK: true},
		{name: "vnet lookups use unmapped addresses", topo: fakeTopo{}, from: "127.0.0.17",
			cfg:  config.Listener{Address: "[::]:0", Kind: config.KindVirtualNetwork, VirtualNetwork: vnetID},
			want: Identity{Path: ServiceEndpoint, ClientIP: addr("127.0.0.17"), Listener: "l1", VirtualNetwork: strings.ToLower(vnetID), Subnet: strings.ToLower(subnetA)}, wantOK: true},
	})
}

func TestIPv6Peer(t *testing.T) {
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback on this host: %v", err)
	}
	probe.Close()
	runTCPCases(t, []tcpCase{
		{name: "IPv6 peer", cfg: config.Listener{Address: "[::1]:0"}, from: "::1", want: public("::1"), wantOK: true},
		{name: "IPv6 trusted peer", cfg: config.Listener{Address: "[::1]:0", TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::1/128")}}, from: "::1",
			prefix: proxyHeader(t, 2, "[2001:db8::9]:1", "[2001:db8::1]:443"), want: public("2001:db8::9"), wantOK: true},
	})
}

// Fail closed: a request that did not come through a Listener has no
// identity, and Middleware removes one attached by an outer layer.
func TestNoIdentityOutsideListener(t *testing.T) {
	srv := httptest.NewServer(Middleware(http.HandlerFunc(echoHandler)))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(With(r.Context(), Identity{Path: PrivateEndpoint, ClientIP: addr("10.0.0.1")}))
	var sawOK bool
	Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, sawOK = From(r.Context())
	})).ServeHTTP(httptest.NewRecorder(), r)
	if sawOK {
		t.Fatal("identity attached by an outer layer survived a failed resolution")
	}
	if id, ok := Resolve(r); ok {
		t.Fatalf("Resolve outside a listener = %+v", id)
	}
	var got result
	if err := jsonDecode(resp, &got); err != nil {
		t.Fatal(err)
	}
	if got.OK {
		t.Fatalf("plain http server gave identity %+v", got.ID)
	}
}

func TestListenRejectsBadConfig(t *testing.T) {
	for _, l := range []config.Listener{
		{Name: "k", Address: "127.0.0.1:0", Kind: 7},
		{Name: "v", Address: "127.0.0.1:0", Kind: config.KindVirtualNetwork},
		{Name: "a", Address: "not-an-address"},
	} {
		if ln, err := Listen(l, nil); err == nil {
			ln.Close()
			t.Errorf("Listen(%+v) succeeded", l)
		}
	}
}

// After the PROXY header, read deadlines still bound reads, and setting one
// allocates nothing (net/http sets several per request; go-proxyproto's own
// SetReadDeadline boxes each one).
func TestReadDeadlineAfterProxyHeader(t *testing.T) {
	ln, err := Listen(config.Listener{Name: "l1", Address: "127.0.0.1:0", TrustedProxies: trustLoopback}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dial(t, ln.Addr().String(), "", append(proxyHeader(t, 2, "16.17.18.19:5555", "198.51.100.10:443"), "x"...))
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := nc.(*conn)
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	if n, err := c.Read(b); err != nil || string(b[:n]) != "x" {
		t.Fatalf("first read: %q, %v", b[:n], err)
	}
	if h := c.ProxyHeader(); h == nil || h.SourceAddr.String() != "16.17.18.19:5555" {
		t.Fatalf("PROXY header: %+v", h)
	}
	if a := testing.AllocsPerRun(100, func() { _ = c.SetReadDeadline(time.Now().Add(time.Minute)) }); a != 0 {
		t.Errorf("SetReadDeadline after the header: %v allocations, want 0", a)
	}
	if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(b); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
}

// A write deadline a little later than the one in force is not set again;
// one that is earlier, or none after one, always is.
func TestWriteDeadlineCoarse(t *testing.T) {
	ln, err := Listen(config.Listener{Name: "l1", Address: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dial(t, ln.Addr().String(), "", []byte("x"))
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := nc.(*conn)
	inForce := func() time.Time {
		if n := c.writeDeadline.Load(); n > 0 {
			return time.Unix(0, n)
		}
		return time.Time{}
	}
	if err := c.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("y")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write past the deadline: %v, want a timeout", err)
	}
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("y")); err != nil {
		t.Fatalf("write without a deadline: %v", err)
	}
	d := time.Now().Add(time.Minute)
	for _, step := range []struct {
		set, want time.Time
	}{
		{d, d},
		{d.Add(writeDeadlineSlack / 2), d}, // kept: at most the slack earlier than asked
		{d.Add(2 * writeDeadlineSlack), d.Add(2 * writeDeadlineSlack)},
		{d, d}, // earlier: set
		{time.Time{}, time.Time{}},
	} {
		if err := c.SetWriteDeadline(step.set); err != nil {
			t.Fatal(err)
		}
		if got := inForce(); !got.Equal(step.want) {
			t.Fatalf("after SetWriteDeadline(%v): %v in force, want %v", step.set, got, step.want)
		}
	}
	// SetDeadline is not tracked: the next write deadline is always set.
	if err := c.SetDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("y")); err != nil {
		t.Fatalf("write after SetDeadline then no write deadline: %v", err)
	}
}
