package netid

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/moat-registry/moat/internal/config"
	"github.com/pires/go-proxyproto"
)

// ProxyHeaderTimeout bounds how long a new connection may take to deliver its
// first bytes while moat looks for a PROXY header. A peer that stays silent
// longer is treated as sending none (the HTTP server's own timeouts then apply).
const ProxyHeaderTimeout = 10 * time.Second

// Listener is one configured listener: a net.Listener whose connections know
// their peer, their local address and, from trusted proxies only, their PROXY
// header. Serve it with an http.Server whose ConnContext is ConnContext and
// whose handler is wrapped by Middleware (Set does both).
//
// Its settings (name, kind, trusted proxies, virtual network) are an immutable
// value swapped atomically by Update, so requests never take a lock.
type Listener struct {
	ln       net.Listener
	topo     Topology
	settings atomic.Pointer[settings]
}

// Listen opens the TCP address of l and returns it as a Listener. topo answers
// the virtual-network questions of SPEC 3; nil knows no network, so a
// virtual-network listener then yields public identities.
func Listen(l config.Listener, topo Topology) (*Listener, error) {
	st, err := compile(l)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", l.Address)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", l.Name, err)
	}
	return newListener(ln, st, topo), nil
}

// Wrap is Listen for an already open TCP listener (tests, socket activation).
// l.Address is not used.
func Wrap(ln net.Listener, l config.Listener, topo Topology) (*Listener, error) {
	st, err := compile(l)
	if err != nil {
		return nil, err
	}
	return newListener(ln, st, topo), nil
}

func newListener(ln net.Listener, st *settings, topo Topology) *Listener {
	l := &Listener{ln: ln, topo: topo}
	l.settings.Store(st)
	return l
}

// Update replaces the listener's settings in place; the address is not
// changed (Set opens a new Listener for a new address). Requests that start
// after Update returns, on new and existing connections, use the new
// settings. Whether a connection may send a PROXY header is decided when it is
// accepted; a connection that sent one and whose peer is no longer trusted
// gets no identity for its later requests.
func (l *Listener) Update(c config.Listener) error {
	st, err := compile(c)
	if err != nil {
		return err
	}
	l.settings.Store(st)
	return nil
}

// Name is the configured listener name.
func (l *Listener) Name() string { return l.settings.Load().name }

// Addr is the bound address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops accepting; accepted connections stay open.
func (l *Listener) Close() error { return l.ln.Close() }

// Accept waits for the next connection. A peer in the trusted proxies may open
// with a PROXY v1 or v2 header (it is used); from any other peer a PROXY header
// makes every read fail, so the server closes the connection.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.ln.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}

func (l *Listener) wrap(c net.Conn) *conn {
	st := l.settings.Load()
	peer, local := addrOf(c.RemoteAddr()), addrOf(c.LocalAddr())
	policy := proxyproto.REJECT
	if peer.IsValid() && st.trusts(peer) {
		policy = proxyproto.USE
	}
	pc := proxyproto.NewConn(c, proxyproto.WithPolicy(policy), proxyproto.SetReadHeaderTimeout(ProxyHeaderTimeout))
	return &conn{Conn: pc, ln: l, peer: peer, local: local}
}

// conn is an accepted connection. peer and local are the TCP endpoints as
// seen by the socket (unmapped, without zone), captured at accept so that
// nothing on the accept path waits for the PROXY header.
type conn struct {
	*proxyproto.Conn
	ln     *Listener
	peer   netip.Addr
	local  netip.Addr
	logged atomic.Bool
	// headerDone: the PROXY header step is over (a Read has returned), so
	// read deadlines go straight to the socket. go-proxyproto keeps every
	// read deadline for that step, boxing it (an allocation), and net/http
	// sets several per request.
	headerDone atomic.Bool
	// writeDeadline is the write deadline in force (Unix ns; 0 none, -1
	// unknown), for SetWriteDeadline's coarseness.
	writeDeadline atomic.Int64
	known         atomic.Pointer[knownID] // identity (resolve.go)
}

// writeDeadlineSlack is how much later than the one in force a new write
// deadline must be to be set. moat bounds each response's writes by a
// deadline of now plus a minute (internal/server's request pacing), twice per
// request; re-arming the socket's timer for a deadline a few microseconds
// later was measurable on small responses. The deadline kept is then at most
// this much earlier than asked, never later.
const writeDeadlineSlack = time.Second

// SetWriteDeadline sets t unless the deadline in force is at most
// writeDeadlineSlack earlier than t (or both are none).
func (c *conn) SetWriteDeadline(t time.Time) error {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	cur := c.writeDeadline.Load()
	if cur >= 0 && (n == cur || (cur > 0 && n > cur && n-cur < int64(writeDeadlineSlack))) {
		return nil
	}
	c.writeDeadline.Store(-1)
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	c.writeDeadline.Store(n)
	return nil
}

// Read logs, once, why a connection from an untrusted peer is being closed.
func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if !c.headerDone.Load() {
		c.headerDone.Store(true)
	}
	if err != nil && errors.Is(err, proxyproto.ErrSuperfluousProxyHeader) && c.logged.CompareAndSwap(false, true) {
		slog.Warn("netid: PROXY header from a peer that is not a trusted proxy; connection closed",
			"listener", c.ln.Name(), "peer", c.peer.String())
	}
	return n, err
}

// SetReadDeadline skips go-proxyproto's bookkeeping once the header is read.
func (c *conn) SetReadDeadline(t time.Time) error {
	if c.headerDone.Load() {
		return c.Raw().SetReadDeadline(t)
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline is SetReadDeadline for both directions.
func (c *conn) SetDeadline(t time.Time) error {
	c.writeDeadline.Store(-1) // unknown: the next SetWriteDeadline is not skipped
	if c.headerDone.Load() {
		return c.Raw().SetDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

// CloseWrite keeps net/http's half-close on the raw TCP connection.
func (c *conn) CloseWrite() error {
	if tc, ok := c.TCPConn(); ok {
		return tc.CloseWrite()
	}
	return nil
}

// addrOf is the IP of a socket address: IPv4-mapped IPv6 unmapped, zone
// dropped; invalid when a has no IP.
func addrOf(a net.Addr) netip.Addr {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case nil:
		return netip.Addr{}
	default:
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return netip.Addr{}
		}
	}
	return clean(ap.Addr())
}

// clean unmaps IPv4-mapped IPv6 and drops an IPv6 zone.
func clean(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// settings is a listener's immutable configuration, parsed once.
type settings struct {
	name    string
	kind    config.ListenerKind
	vnet    string // lower-cased virtual network ID (virtual-network listeners)
	trusted []netip.Prefix
}

func compile(l config.Listener) (*settings, error) {
	st := &settings{name: l.Name, kind: l.Kind}
	switch l.Kind {
	case config.KindPublic:
	case config.KindVirtualNetwork:
		if strings.TrimSpace(l.VirtualNetwork) == "" {
			return nil, fmt.Errorf("listener %s: kind virtualNetwork needs virtualNetwork: <virtual network resource ID>", l.Name)
		}
		st.vnet = strings.ToLower(strings.TrimSpace(l.VirtualNetwork))
	default:
		return nil, fmt.Errorf("listener %s: kind %v must be public or virtualNetwork", l.Name, l.Kind)
	}
	for _, p := range l.TrustedProxies {
		st.trusted = append(st.trusted, unmapPrefix(p))
	}
	return st, nil
}

// unmapPrefix turns ::ffff:a.b.c.d/n (n >= 96) into a.b.c.d/(n-96), so that it
// matches the unmapped addresses netid works with.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
	}
	return p
}

// trusts reports whether a (already cleaned) is one of the trusted proxies.
func (st *settings) trusts(a netip.Addr) bool {
	for _, p := range st.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
