// Package netguard applies the network access decision to data-plane
// requests, before authentication: for each registry the request's target
// addresses (internal/target) it decides with policy.Decide, answers a deny
// with the 403 of SPEC 4, and records it.
package netguard

import (
	"net/http"
	"time"

	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/target"
)

// DocsURL is where a denied client is sent to learn how access is granted.
const DocsURL = "https://github.com/moat-registry/moat/blob/main/docs/network-access.md"

// Principals tells who a request speaks for, from the one credential its
// target says it carries (verified by the one token verifier), for the
// trusted-service bypass.
type Principals interface {
	Bypasser(r *http.Request, t *target.Target) (*policy.Principal, bool)
}

// Recorder receives every decision (metrics) and every denial (audit).
type Recorder interface {
	Decided(regKey string, d policy.Decision)
	Denied(regKey string, id netid.Identity, d policy.Decision, route string, at time.Time)
}

// Guard is the network gate of the data plane.
type Guard struct {
	Trusted    policy.TrustedServices
	Principals Principals
	Record     Recorder
}

// Middleware denies requests that a registry's network rules do not allow,
// and requests whose target cannot be read (fail closed).
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := target.Of(r)
		switch {
		case !ok:
			errcode.Write(w, r, errcode.New(errcode.Internal, "the request's target was not resolved"))
			return
		case t.Err != nil:
			errcode.Write(w, r, t.Err)
			return
		}
		for _, reg := range t.Registries {
			if d, id := g.decide(r, t, reg); !d.Allow {
				g.deny(w, r, t, reg, id, d)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Allows reports whether the request's client may reach reg (used to filter
// listings that span registries).
func (g *Guard) Allows(r *http.Request, reg *regindex.Registry) bool {
	t, ok := target.Of(r)
	if !ok {
		return false
	}
	d, _ := g.decide(r, t, reg)
	return d.Allow
}

// decide decides one request for one registry and counts the decision. A
// request without a usable client address (no network identity) is denied.
func (g *Guard) decide(r *http.Request, t *target.Target, reg *regindex.Registry) (policy.Decision, netid.Identity) {
	id, ok := netid.From(r.Context())
	d := policy.Decision{Reason: policy.ReasonNoNetworkIdentity}
	if ok {
		d = policy.Decide(reg.Rules, id, nil, g.Trusted)
		if policy.NeedsPrincipal(reg.Rules, d) && g.Principals != nil {
			if p, ok := g.Principals.Bypasser(r, t); ok {
				d = policy.Decide(reg.Rules, id, p, g.Trusted)
			}
		}
	}
	if g.Record != nil {
		g.Record.Decided(reg.Key, d)
	}
	return d, id
}

func (g *Guard) deny(w http.ResponseWriter, r *http.Request, t *target.Target, reg *regindex.Registry, id netid.Identity, d policy.Decision) {
	if g.Record != nil {
		g.Record.Denied(reg.Key, id, d, route(r, t), time.Now())
	}
	ip := "unknown"
	if id.ClientIP.IsValid() {
		ip = id.ClientIP.String()
	}
	errcode.Write(w, r, errcode.New(errcode.Denied, "client with IP '%s' is not allowed access. Refer %s to grant access.", ip, DocsURL))
}

// route is the request's endpoint without names, for the audit.
func route(r *http.Request, t *target.Target) string {
	if t.Kind.TokenEndpoint() || t.Kind == target.KindInvalid || t.Kind == target.KindACRInvalid {
		return r.Method + " " + r.URL.Path
	}
	return r.Method + " " + t.Kind.String()
}
