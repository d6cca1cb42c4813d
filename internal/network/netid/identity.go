// Package netid gives every data-plane request its network identity (SPEC 3):
// the path it came by (public, service endpoint, private endpoint), the client
// IP, and the subnet or private endpoint, learnt from the listener it arrived
// on and, only from trusted proxies, the PROXY protocol or X-Forwarded-For.
package netid

import (
	"context"
	"net/netip"
)

// Path is how a request reached moat.
type Path string

const (
	Public          Path = "public"
	ServiceEndpoint Path = "serviceEndpoint"
	PrivateEndpoint Path = "privateEndpoint"
)

// Identity is a request's network identity. Resource IDs are lower-cased.
type Identity struct {
	Path     Path
	ClientIP netip.Addr
	// Listener is the name of the listener the connection arrived on.
	Listener string
	// VirtualNetwork is set for traffic from a virtual-network listener.
	VirtualNetwork string
	// Subnet is set when Path is ServiceEndpoint.
	Subnet string
	// PrivateEndpoint is set when Path is PrivateEndpoint.
	PrivateEndpoint string
}

// Topology answers what a virtual-network listener needs to know about its
// network: which private endpoint owns a destination IP, and which subnet
// with the Microsoft.ContainerRegistry service endpoint holds a source IP.
// Implementations read an immutable snapshot (no locks on the request path).
type Topology interface {
	PrivateEndpointAt(vnet string, ip netip.Addr) (peID string, ok bool)
	ServiceEndpointSubnet(vnet string, ip netip.Addr) (subnetID string, ok bool)
}

type ctxKey struct{}

// idCtx carries an identity in the same allocation as its context node
// (context.WithValue would box the Identity too, per request).
type idCtx struct {
	context.Context
	id Identity
	ok bool // false shadows an identity an outer layer attached
}

func (c *idCtx) Value(key any) any {
	if key == (ctxKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// With returns ctx carrying id.
func With(ctx context.Context, id Identity) context.Context {
	return &idCtx{Context: ctx, id: id, ok: true}
}

// From returns the identity attached by the listener; ok is false when the
// request did not come through a moat listener (then callers must deny).
func From(ctx context.Context) (Identity, bool) {
	if c, ok := ctx.Value(ctxKey{}).(*idCtx); ok && c.ok {
		return c.id, true
	}
	return Identity{}, false
}
