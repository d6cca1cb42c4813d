package netid

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/moat-registry/moat/internal/config"
	"github.com/pires/go-proxyproto"
)

type connKey struct{}

// ConnContext is the http.Server ConnContext of servers that serve a
// Listener: it remembers the accepted connection (also under TLS) for
// Resolve. It never reads from the connection.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if nc := findConn(c); nc != nil {
		return context.WithValue(ctx, connKey{}, nc)
	}
	return ctx
}

// findConn unwraps *tls.Conn (and other wrappers with NetConn) down to a conn.
func findConn(c net.Conn) *conn {
	for range 8 {
		switch v := c.(type) {
		case *conn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// Resolve is the network identity of r (SPEC 3). ok is false when r did not
// arrive through a Listener served with ConnContext, or when anything the
// identity depends on cannot be determined: callers must then deny.
func Resolve(r *http.Request) (Identity, bool) {
	c, ok := r.Context().Value(connKey{}).(*conn)
	if !ok {
		return Identity{}, false
	}
	return c.identity(r.Header)
}

// Middleware attaches the identity of each request (With) before calling
// next. When Resolve fails, the request carries no identity: From returns
// ok=false even if an outer layer had attached one.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if id, ok := Resolve(r); ok {
			ctx = With(ctx, id)
		} else if _, had := From(ctx); had {
			ctx = &idCtx{Context: ctx} // shadows it: From reports ok=false
		} else {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// identity resolves one request on c with the listener's current settings.
// The PROXY header was read with the request, so ProxyHeader does not block.
// An identity that depends only on the connection and the settings is kept
// for the connection's next requests, until the settings change.
func (c *conn) identity(h http.Header) (Identity, bool) {
	st := c.ln.settings.Load()
	if k := c.known.Load(); k != nil && k.st == st {
		return k.id, true
	}
	id, ok, fixed := st.resolveFixed(c.ln.topo, c.peer, c.local, c.ProxyHeader(), h)
	if ok && fixed {
		c.known.Store(&knownID{st: st, id: id})
	}
	return id, ok
}

// knownID is a connection's identity under one version of its listener's settings.
type knownID struct {
	st *settings
	id Identity
}

func (st *settings) resolve(topo Topology, peer, local netip.Addr, hdr *proxyproto.Header, h http.Header) (Identity, bool) {
	id, ok, _ := st.resolveFixed(topo, peer, local, hdr, h)
	return id, ok
}

// resolveFixed applies SPEC 3 to one request: peer and local are the TCP
// endpoints, hdr the PROXY header accepted on the connection (nil if none), h
// the request headers. fixed says the identity depends on nothing but these
// settings and the connection: not on the request's X-Forwarded-For, nor on
// the topology (which changes without the settings).
func (st *settings) resolveFixed(topo Topology, peer, local netip.Addr, hdr *proxyproto.Header, h http.Header) (id Identity, ok, fixed bool) {
	if !peer.IsValid() {
		return Identity{}, false, false
	}
	trusted := st.trusts(peer)
	src, dst, proxied := peer, local, false
	if hdr != nil {
		if !trusted {
			// Accepted from a trusted proxy, which has been removed since.
			return Identity{}, false, false
		}
		s, d, use, ok := proxyAddrs(hdr)
		if !ok {
			return Identity{}, false, false
		}
		if use {
			src, dst, proxied = s, d, true
		}
	}
	id = Identity{Listener: st.name, Path: Public}
	if st.kind == config.KindPublic {
		switch {
		case proxied:
			id.ClientIP = src
		case trusted:
			// An unusable entry where the client should stand: no identity.
			id.ClientIP, _ = forwardedClient(h.Values("X-Forwarded-For"), peer, st.trusts)
		default:
			id.ClientIP = peer
		}
		return id, id.ClientIP.IsValid(), proxied || !trusted
	}
	// Virtual-network listener: X-Forwarded-For is never used.
	if !dst.IsValid() {
		return Identity{}, false, false
	}
	id.ClientIP, id.VirtualNetwork = src, st.vnet
	if topo == nil {
		return id, true, false
	}
	if pe, ok := topo.PrivateEndpointAt(st.vnet, dst); ok {
		if pe == "" {
			return Identity{}, false, false
		}
		id.Path, id.PrivateEndpoint = PrivateEndpoint, strings.ToLower(pe)
		return id, true, false
	}
	if sn, ok := topo.ServiceEndpointSubnet(st.vnet, src); ok {
		if sn == "" {
			return Identity{}, false, false
		}
		id.Path, id.Subnet = ServiceEndpoint, strings.ToLower(sn)
	}
	return id, true, false
}

// proxyAddrs reads a PROXY header from a trusted proxy. use is false when
// the protocol says the connection's own endpoints apply, as if no header had
// been sent: a v2 LOCAL command (a balancer's own health checks, family
// AF_UNSPEC) and v1 "PROXY UNKNOWN" (a connection the proxy cannot describe).
// A v2 PROXY command with AF_UNSPEC, which the specification lets a receiver
// refuse, never gets here: go-proxyproto closes the connection. ok is false
// when the header names no usable TCP client: UDP or UNIX families, or
// unspecified addresses.
func proxyAddrs(hdr *proxyproto.Header) (src, dst netip.Addr, use, ok bool) {
	// go-proxyproto reads v1 UNKNOWN as a LOCAL command of family UNSPEC.
	if hdr.Command.IsLocal() || hdr.TransportProtocol == proxyproto.UNSPEC {
		return src, dst, false, true
	}
	if !hdr.Command.IsProxy() {
		return src, dst, false, false
	}
	s, d, ok := hdr.TCPAddrs()
	if !ok || s == nil || d == nil {
		return src, dst, false, false
	}
	src, dst = addrOf(s), addrOf(d)
	if !src.IsValid() || !dst.IsValid() || src.IsUnspecified() || dst.IsUnspecified() {
		return netip.Addr{}, netip.Addr{}, false, false
	}
	return src, dst, true, true
}
