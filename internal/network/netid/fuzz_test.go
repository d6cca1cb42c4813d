package netid

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/config"
	"github.com/pires/go-proxyproto"
)

var fuzzTrusted = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("192.0.2.0/24"),
}

func fuzzTrusts(a netip.Addr) bool {
	for _, p := range fuzzTrusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// refForwarded is the walk written the obvious way (split everything, then
// scan backwards), to check the allocation-free walk against.
func refForwarded(lines []string, peer netip.Addr) (netip.Addr, bool) {
	var entries []string
	for _, l := range lines {
		for _, e := range strings.Split(l, ",") {
			if e = strings.Trim(e, " \t"); e != "" {
				entries = append(entries, e)
			}
		}
	}
	last := peer
	for i := len(entries) - 1; i >= 0; i-- {
		a, ok := parseForwarded(entries[i])
		if !ok {
			return netip.Addr{}, false
		}
		if !fuzzTrusts(a) {
			return a, true
		}
		last = a
	}
	return last, true
}

func FuzzForwardedFor(f *testing.F) {
	for _, s := range []string{
		"", "16.17.18.19", "203.0.113.7, 16.17.18.19", "16.17.18.19, 10.1.1.1, 10.2.2.2",
		"10.1.1.2, 10.1.1.1", "16.17.18.19, unknown, 10.1.1.1", "16.17.18.19\n10.1.1.1",
		"16.17.18.19:4711", "[2001:db8::5]:443", "[2001:db8::5]", "::ffff:16.17.18.19", "::ffff:10.0.0.1",
		"fe80::1%eth0", "0.0.0.0", ",,, ,", "\t16.17.18.19\t", "2001:db8::1, 2001:db9::1", "1.2.3.4:99999",
		"[1.2.3.4]:80", "_hidden, 10.0.0.1", "1.2.3.4, 10.0.0.1\n\n10.0.0.2",
	} {
		f.Add(s)
	}
	peer := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, raw string) {
		lines := strings.Split(raw, "\n")
		got, ok := forwardedClient(lines, peer, fuzzTrusts)
		if ok && (!got.IsValid() || got.Is4In6() || got.Zone() != "" || got.IsUnspecified()) || !ok && got.IsValid() {
			t.Fatalf("forwardedClient(%q) = %v %v: not a clean client address", raw, got, ok)
		}
		if want, wantOK := refForwarded(lines, peer); got != want || ok != wantOK {
			t.Fatalf("forwardedClient(%q) = %v %v, reference walk says %v %v", raw, got, ok, want, wantOK)
		}
		// Without X-Forwarded-For, or from nobody's list, nothing changes.
		if got, ok := forwardedClient(nil, peer, fuzzTrusts); got != peer || !ok {
			t.Fatalf("no header: %v", got)
		}
	})
}

func FuzzParseForwarded(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4:80", "[::1]:80", "[::1]", "::1", "::ffff:1.2.3.4", "fe80::1%eth0",
		"[fe80::1%eth0]:1", "1.2.3.4:", "[1.2.3.4]", "unknown", "01.2.3.4", "1.2.3.4:0080", "::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := parseForwarded(s)
		if !ok {
			if a.IsValid() {
				t.Fatalf("parseForwarded(%q) failed but returned %v", s, a)
			}
			return
		}
		if a.Is4In6() || a.Zone() != "" || a.IsUnspecified() {
			t.Fatalf("parseForwarded(%q) = %v", s, a)
		}
		// A bare address must agree with netip.
		if p, err := netip.ParseAddr(s); err == nil && p.Unmap() != a {
			t.Fatalf("parseForwarded(%q) = %v, netip says %v", s, a, p)
		}
		if !strings.Contains(s, ":") && !a.Is4() {
			t.Fatalf("parseForwarded(%q) = %v without a colon", s, a)
		}
	})
}

// memConn is a connection whose peer has sent data and then closed.
type memConn struct {
	r             *bytes.Reader
	local, remote net.Addr
}

func (c *memConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *memConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return c.local }
func (c *memConn) RemoteAddr() net.Addr             { return c.remote }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzProxyHeader sends arbitrary bytes where a PROXY header may stand,
// followed by an HTTP request carrying X-Forwarded-For, from a trusted or an
// untrusted peer, to a public or a virtual-network listener.
func FuzzProxyHeader(f *testing.F) {
	seeds := [][]byte{
		nil,
		[]byte("PROXY TCP4 16.17.18.19 198.51.100.10 5555 443\r\n"),
		[]byte("PROXY TCP6 2001:db8::7 2001:db8::1 5555 443\r\n"),
		[]byte("PROXY TCP4 10.77.1.10 10.77.3.4 5555 443\r\n"),
		[]byte("PROXY UNKNOWN\r\n"),
		[]byte("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n"),
		[]byte("PROXY TCP4 16.17.18.19\r\n"),
		[]byte("PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n"),
		[]byte("PROXY TCP4 16.17.18.19 198.51.100.10 5555 443\n"),
		[]byte("PROXY"),
		append(append([]byte{}, proxyproto.SIGV2...), 0x21, 0x11, 0xff, 0xff),
		append(append([]byte{}, proxyproto.SIGV2...), 0x21, 0x11, 0x00, 0x0c, 16, 17, 18, 19, 10, 77, 3, 4, 1, 1, 1, 187),
		append(append([]byte{}, proxyproto.SIGV2...), 0x20, 0x00, 0x00, 0x00),
		append(append([]byte{}, proxyproto.SIGV2...), 0x21, 0x00, 0x00, 0x00),
		append(append([]byte{}, proxyproto.SIGV2...), 0x21, 0x31, 0x00, 0x00),
		[]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 16.17.18.19\r\n\r\n"),
		{0x16, 0x03, 0x01, 0x00, 0x05},
		{0x0d, 0x0a, 0x0d, 0x0a, 0x00},
	}
	for _, v := range []byte{1, 2} {
		for _, sd := range [][2]string{
			{"16.17.18.19:5555", "198.51.100.10:443"},
			{"10.77.1.10:5555", "10.77.0.1:443"},
			{"10.77.2.10:5555", "10.77.3.4:443"},
			{"[2001:db8::7]:5555", "[2001:db8::1]:443"},
		} {
			seeds = append(seeds, proxyHeader(f, v, sd[0], sd[1]))
		}
	}
	mapped := rawHeader(f, &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv6,
		SourceAddr: tcpAddr("[::ffff:16.17.18.19]:1"), DestinationAddr: tcpAddr("[::ffff:10.77.3.4]:443")})
	seeds = append(seeds, mapped)
	withTLV := proxyproto.HeaderProxyFromAddrs(2, tcpAddr("16.17.18.19:1"), tcpAddr("10.77.0.1:443"))
	_ = withTLV.SetTLVs([]proxyproto.TLV{{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte("moat.test")}})
	seeds = append(seeds, rawHeader(f, withTLV))
	for _, s := range seeds {
		for _, trusted := range []bool{false, true} {
			f.Add(s, trusted, false, "203.0.113.7, 16.17.18.19")
			f.Add(s, trusted, true, "10.77.1.10")
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, trusted, vnet bool, xff string) {
		cfg := config.Listener{Name: "fz", Kind: config.KindPublic}
		if vnet {
			cfg.Kind, cfg.VirtualNetwork = config.KindVirtualNetwork, vnetID
		}
		if trusted {
			cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")}
		}
		st, err := compile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		l := newListener(nil, st, fakeTopo{})
		peer, local := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("10.77.0.1")
		xff = strings.NewReplacer("\r", "", "\n", "").Replace(xff)
		payload := append(append([]byte{}, data...), "GET /v2/ HTTP/1.1\r\nHost: moat.test\r\nX-Forwarded-For: "+xff+"\r\n\r\n"...)
		c := l.wrap(&memConn{r: bytes.NewReader(payload),
			local:  net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 443)),
			remote: net.TCPAddrFromAddrPort(netip.AddrPortFrom(peer, 40000))})
		req, err := http.ReadRequest(bufio.NewReader(c))
		hdr := c.ProxyHeader()
		if !trusted {
			if hdr != nil {
				t.Fatalf("untrusted peer's PROXY header was accepted: %+v", hdr)
			}
			if h, herr := proxyproto.Read(bufio.NewReader(bytes.NewReader(payload))); herr == nil && h != nil && err == nil {
				t.Fatalf("untrusted peer sent a PROXY header and was served")
			}
		}
		if err != nil {
			return // the server closes the connection
		}
		id, ok := c.identity(req.Header)
		if !trusted {
			// An untrusted peer gets exactly the identity of its TCP endpoints.
			want, wantOK := st.resolve(fakeTopo{}, peer, local, nil, nil)
			if ok != wantOK || id != want {
				t.Fatalf("untrusted peer changed its identity: got %+v %v, want %+v", id, ok, want)
			}
			return
		}
		if !ok {
			return
		}
		if !id.ClientIP.IsValid() || id.ClientIP.Is4In6() || id.ClientIP.Zone() != "" || id.ClientIP.IsUnspecified() {
			t.Fatalf("client IP %v", id.ClientIP)
		}
		switch id.Path {
		case Public, ServiceEndpoint, PrivateEndpoint:
		default:
			t.Fatalf("path %q", id.Path)
		}
		if (id.Path == PrivateEndpoint) != (id.PrivateEndpoint != "") || (id.Path == ServiceEndpoint) != (id.Subnet != "") {
			t.Fatalf("inconsistent identity %+v", id)
		}
		if hdr != nil && hdr.Command.IsProxy() && hdr.TransportProtocol != proxyproto.UNSPEC {
			s, _, _ := hdr.TCPAddrs()
			if want := addrOf(s); id.ClientIP != want {
				t.Fatalf("PROXY source %v, identity %+v", want, id)
			}
		}
	})
}
