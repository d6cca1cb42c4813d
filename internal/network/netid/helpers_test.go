package netid

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/config"
	"github.com/pires/go-proxyproto"
)

// Resource IDs in mixed case: identities must carry them lower-cased.
const (
	vnetID    = "/subscriptions/S1/resourceGroups/Net/providers/Microsoft.Network/virtualNetworks/Corp"
	otherVnet = "/subscriptions/S1/resourceGroups/Net/providers/Microsoft.Network/virtualNetworks/Elsewhere"
	subnetA   = vnetID + "/subnets/A"
	peID      = "/subscriptions/S1/resourceGroups/Net/providers/Microsoft.Network/privateEndpoints/PE1"
)

// fakeTopo knows vnetID: private endpoint PE1 at 127.0.0.3 and 10.77.3.4;
// subnet A (service endpoint on) = 127.0.0.16/28 and 10.77.1.0/24. Subnet B
// (10.77.2.0/24, 127.0.0.32/28) has no service endpoint, so it is absent.
type fakeTopo struct {
	emptyIDs bool // answer ok with an empty ID (a broken topology)
}

func (f fakeTopo) PrivateEndpointAt(vnet string, ip netip.Addr) (string, bool) {
	if vnet != strings.ToLower(vnetID) || ip.Is4In6() {
		return "", false
	}
	if ip == netip.MustParseAddr("127.0.0.3") || ip == netip.MustParseAddr("10.77.3.4") {
		if f.emptyIDs {
			return "", true
		}
		return peID, true
	}
	return "", false
}

func (f fakeTopo) ServiceEndpointSubnet(vnet string, ip netip.Addr) (string, bool) {
	if vnet != strings.ToLower(vnetID) || ip.Is4In6() {
		return "", false
	}
	for _, p := range []string{"127.0.0.16/28", "10.77.1.0/24"} {
		if netip.MustParsePrefix(p).Contains(ip) {
			if f.emptyIDs {
				return "", true
			}
			return subnetA, true
		}
	}
	return "", false
}

// result is what the echo handler reports.
type result struct {
	OK bool
	ID Identity
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	id, ok := From(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(result{OK: ok, ID: id})
}

// serveListener serves ln like Set does and stops it at the end of the test.
func serveListener(t *testing.T, ln *Listener) {
	t.Helper()
	srv := &http.Server{Handler: Middleware(http.HandlerFunc(echoHandler)), ConnContext: ConnContext, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
}

// start listens on cfg and serves the echo handler; it returns the address.
func start(t *testing.T, cfg config.Listener, topo Topology) string {
	t.Helper()
	ln, err := Listen(cfg, topo)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	serveListener(t, ln)
	return ln.Addr().String()
}

// client is one TCP connection from a chosen loopback source address.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr, from string, prefix []byte) *client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	t.Cleanup(func() { c.Close() })
	if len(prefix) > 0 {
		if _, err := c.Write(prefix); err != nil {
			t.Fatalf("write PROXY header: %v", err)
		}
	}
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

// errClosed means the server closed the connection instead of answering.
var errClosed = errors.New("connection closed by server")

// get sends one keep-alive request with the raw header lines ("Name: value").
func (c *client) get(lines ...string) (result, error) {
	c.t.Helper()
	var b strings.Builder
	b.WriteString("GET /id HTTP/1.1\r\nHost: moat.test\r\n")
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	_ = c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.c.Write([]byte(b.String())); err != nil {
		return result{}, errClosed
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("no answer and no close: %v", err)
		}
		return result{}, errClosed
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("status %s", resp.Status)
	}
	var r result
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		c.t.Fatalf("decode: %v", err)
	}
	return r, nil
}

func tcpAddr(s string) *net.TCPAddr {
	ap := netip.MustParseAddrPort(s)
	return net.TCPAddrFromAddrPort(ap)
}

// proxyHeader is a PROXY v1 or v2 header for a TCP connection src -> dst
// ("ip:port" each).
func proxyHeader(t testing.TB, version byte, src, dst string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(version, tcpAddr(src), tcpAddr(dst))
	b, err := h.Format()
	if err != nil {
		t.Fatalf("format PROXY header: %v", err)
	}
	return b
}

// rawHeader formats a hand-built header.
func rawHeader(t testing.TB, h *proxyproto.Header) []byte {
	t.Helper()
	b, err := h.Format()
	if err != nil {
		t.Fatalf("format PROXY header: %v", err)
	}
	return b
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func (r result) String() string {
	if !r.OK {
		return "no identity"
	}
	return fmt.Sprintf("%+v", r.ID)
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
