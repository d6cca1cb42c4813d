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

// Recorder receives every decision (metrics), every denial (audit) and
// every disagreement of a registry's staged settings with its enforced ones
// (shadow mode).
type Recorder interface {
	Decided(regKey string, d policy.Decision)
	Denied(regKey string, id netid.Identity, d policy.Decision, route string, at time.Time)
	Disagreed(regKey string, id netid.Identity, d, staged policy.Decision, route string, at time.Time)
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
	if !ok {
		g.decided(reg, d)
		return d, id
	}
	lp := lazyPrincipal{g: g, r: r, t: t}
	d = decideWith(reg.Rules, id, &lp, g.Trusted)
	g.decided(reg, d)
	// Shadow mode: the staged settings decide too; the enforced decision
	// applies, a different one is counted and listed.
	if reg.Staged != nil && g.Record != nil {
		if s := decideWith(reg.Staged, id, &lp, g.Trusted); s.Allow != d.Allow {
			g.Record.Disagreed(reg.Key, id, d, s, route(r, t), time.Now())
		}
	}
	return d, id
}

func (g *Guard) decided(reg *regindex.Registry, d policy.Decision) {
	if g.Record != nil {
		g.Record.Decided(reg.Key, d)
	}
}

// lazyPrincipal verifies the request's principal at most once, when a
// decision needs it (the trusted-service bypass).
type lazyPrincipal struct {
	g        *Guard
	r        *http.Request
	t        *target.Target
	p        *policy.Principal
	ok, done bool
}

func (l *lazyPrincipal) get() (*policy.Principal, bool) {
	if !l.done && l.g.Principals != nil {
		l.p, l.ok = l.g.Principals.Bypasser(l.r, l.t)
	}
	l.done = true
	return l.p, l.ok
}

// decideWith decides under rules, verifying the principal only if a trusted
// service could turn a denial into an allow.
func decideWith(rules *policy.Rules, id netid.Identity, principal *lazyPrincipal, trusted policy.TrustedServices) policy.Decision {
	d := policy.Decide(rules, id, nil, trusted)
	if policy.NeedsPrincipal(rules, d) {
		if p, ok := principal.get(); ok {
			d = policy.Decide(rules, id, p, trusted)
		}
	}
	return d
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
