// Package netguard applies the network access decision to data-plane
// requests, before authentication: it finds the registries a request
// addresses, decides with policy.Decide, answers a deny with the 403 of
// SPEC 4, and records it.
package netguard

import (
	"net/http"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/netid"
	"github.com/moat-registry/moat/internal/oci"
	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/policy"
	"github.com/moat-registry/moat/internal/regauth"
)

// DocsURL is where a denied client is sent to learn how access is granted.
const DocsURL = "https://github.com/moat-registry/moat/blob/main/docs/network-access.md"

// Principals tells who a request speaks for, from whatever credential it
// carries (verified by the one token verifier), for the trusted-service bypass.
type Principals interface {
	Bypasser(r *http.Request) (*policy.Principal, bool)
}

// Recorder receives every decision (metrics) and every denial (audit).
type Recorder interface {
	Decided(reg *meta.Registry, d policy.Decision)
	Denied(reg *meta.Registry, id netid.Identity, d policy.Decision, route string, at time.Time)
}

// Guard is the network gate of the data plane.
type Guard struct {
	State      *policy.State
	Registries oci.RegistryLookup
	Addressing oci.Addressing
	Trusted    policy.TrustedServices
	Principals Principals
	Record     Recorder
}

// Middleware denies requests that a registry's network rules do not allow.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, reg := range g.addressed(r) {
			if d, id := g.Decide(r, reg); !d.Allow {
				g.deny(w, r, reg, id, d)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Allows reports whether the request's client may reach reg (used to filter
// listings that span registries).
func (g *Guard) Allows(r *http.Request, reg *meta.Registry) bool {
	d, _ := g.Decide(r, reg)
	return d.Allow
}

// Decide decides one request for one registry.
func (g *Guard) Decide(r *http.Request, reg *meta.Registry) (policy.Decision, netid.Identity) {
	d, id := g.decide(r, reg)
	if g.Record != nil {
		g.Record.Decided(reg, d)
	}
	return d, id
}

// decide is the decision; a request without a usable client address (no
// network identity) is denied, and counted like any other decision.
func (g *Guard) decide(r *http.Request, reg *meta.Registry) (policy.Decision, netid.Identity) {
	id, ok := netid.From(r.Context())
	if !ok {
		return policy.Decision{Reason: policy.ReasonNoNetworkIdentity}, id
	}
	rules := g.State.Rules(reg.Key)
	d := policy.Decide(rules, id, nil, g.Trusted)
	if policy.NeedsPrincipal(rules, d) && g.Principals != nil {
		if p, ok := g.Principals.Bypasser(r); ok {
			d = policy.Decide(rules, id, p, g.Trusted)
		}
	}
	return d, id
}

func (g *Guard) deny(w http.ResponseWriter, r *http.Request, reg *meta.Registry, id netid.Identity, d policy.Decision) {
	if g.Record != nil {
		g.Record.Denied(reg, id, d, route(r), time.Now())
	}
	ip := "unknown"
	if id.ClientIP.IsValid() {
		ip = id.ClientIP.String()
	}
	errcode.Write(w, r, errcode.New(errcode.Denied, "client with IP '%s' is not allowed access. Refer %s to grant access.", ip, DocsURL))
}

// route is the request's endpoint without names, for the audit.
func route(r *http.Request) string {
	switch rt := oci.ParseRoute(r.URL.Path); {
	case strings.HasPrefix(r.URL.Path, "/oauth2/"):
		return r.Method + " " + r.URL.Path
	case rt.Kind != oci.KindInvalid:
		return r.Method + " " + rt.Kind.String()
	}
	return r.Method + " " + r.URL.Path
}

// addressed returns the registries a data-plane request addresses: the
// host-style registry, the first path segment of /v2/ and /acr/v1/ paths in
// path style, or the registries named by a token request's scopes.
func (g *Guard) addressed(r *http.Request) []*meta.Registry {
	if name, ok := g.Addressing.HostRegistry(r.Host); ok {
		return g.lookup(name)
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/oauth2/"):
		return g.scopeRegistries(r)
	case strings.HasPrefix(p, "/acr/v1/"):
		return g.lookup(firstSegment(strings.TrimPrefix(p, "/acr/v1/")))
	case strings.HasPrefix(p, "/v2/"):
		rest := strings.TrimPrefix(p, "/v2/")
		if rest == "" || rest == "_catalog" {
			return nil // the path-style ping and catalog address no registry; the catalog filters with Allows
		}
		return g.lookup(firstSegment(rest))
	}
	return nil
}

func firstSegment(s string) string {
	seg, _, _ := strings.Cut(s, "/")
	return seg
}

func (g *Guard) lookup(name string) []*meta.Registry {
	if reg, ok := g.Registries.Lookup(strings.ToLower(name)); ok {
		return []*meta.Registry{reg}
	}
	return nil // unknown registries get NAME_UNKNOWN from the handler
}

// scopeRegistries finds the registries a token request is for: those named
// in its scopes, and the one its service names when that is a path-style
// login server "<host>/<registry>" (what 'moat acr login' sends).
func (g *Guard) scopeRegistries(r *http.Request) []*meta.Registry {
	scopes := r.URL.Query()["scope"]
	services := r.URL.Query()["service"]
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
		if r.ParseForm() == nil {
			scopes = append(scopes, r.PostForm["scope"]...)
			services = append(services, r.PostForm["service"]...)
		}
	}
	seen := map[string]bool{}
	var out []*meta.Registry
	for _, svc := range services {
		if i := strings.LastIndexByte(svc, '/'); i >= 0 {
			for _, reg := range g.lookup(svc[i+1:]) {
				if !seen[reg.Key] {
					seen[reg.Key] = true
					out = append(out, reg)
				}
			}
		}
	}
	for _, sc := range scopes {
		for one := range strings.FieldsSeq(sc) {
			a, ok := regauth.ParseScope(one)
			if !ok || a.Type != "repository" {
				continue
			}
			for _, reg := range g.lookup(firstSegment(a.Name)) {
				if !seen[reg.Key] {
					seen[reg.Key] = true
					out = append(out, reg)
				}
			}
		}
	}
	return out
}
