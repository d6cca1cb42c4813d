// Package target decides, once per request, what the request is for: the
// endpoint (route kind), the registry or registries it addresses (host style
// or path style), the repository, the audience of its tokens and, for the
// token endpoints, the parsed token request with the one credential it
// carries. The Resolver middleware attaches the Target to the request's
// context, the way netid attaches the client's network identity; the network
// gate, the distribution API, the token service, the sign-in limiter and the
// request observer all read it and never parse the request themselves, so
// they cannot disagree about it.
package target

import (
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/regindex"
)

// Target is what one request is for. It is immutable once resolved.
type Target struct {
	// Snap is the registries' snapshot the request is decided on, from start
	// to end.
	Snap *regindex.Snapshot
	Route
	// HostStyle: the Host names a registry (<registry>.<suffix>[:port]).
	HostStyle bool
	// RegistryName is the registry the path or Host names, as the client
	// wrote it ("" when it names none, e.g. the path-style ping).
	RegistryName string
	// Registry is that registry, nil when it names none or an unknown one.
	Registry *regindex.Registry
	// Repo is the repository inside the registry ("" for registry-wide routes).
	Repo string
	// Registries are every known registry the request addresses: Registry,
	// or for a token request those of its scopes, service and Host. The
	// network gate decides for each.
	Registries []*regindex.Registry
	// Audience is what the request's registry tokens are bound to: the
	// registry's login server in host style, the host in path style.
	Audience string
	// Token is the parsed token request (token endpoints only).
	Token *TokenRequest
	// Err, when set, is why the request cannot be read (a 4xx): it is
	// answered with Err and nothing else is decided (fail closed).
	Err error

	host, path string // what was resolved (Of checks it)
	one        [1]*regindex.Registry
}

// Split resolves a repository name as the client writes it in this request
// (a scope, a mount's source) to its registry and repository.
func (t *Target) Split(name string) (reg *regindex.Registry, regName, repo string) {
	if t.HostStyle {
		regName, repo = t.RegistryName, name
	} else {
		regName, repo = firstSegment(name)
	}
	if regName != "" {
		reg, _ = t.Snap.LookupName(regName)
	}
	return reg, regName, repo
}

// Catalog is the registry a catalog request lists and the name it was
// asked by ("" when it names none: every registry, in path style). In host
// style that is the Host's registry, and ok is false when the path names
// another. reg is nil for a name that is no registry (unknown, or "<a>/<b>").
func (t *Target) Catalog() (name string, reg *regindex.Registry, ok bool) {
	name, reg = t.Name, t.Registry
	if t.HostStyle {
		if name != "" && !strings.EqualFold(name, t.RegistryName) {
			return name, nil, false
		}
		return t.RegistryName, reg, true
	}
	if name != t.RegistryName {
		reg = nil // "<a>/<b>/_catalog": no registry is named "a/b"
	}
	return name, reg, true
}

func firstSegment(name string) (first, rest string) {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			return name[:i], name[i+1:]
		}
	}
	return name, ""
}

// ctxKey carries the target in a context; its value is a *Target.
type ctxKey struct{}

// Of returns the target resolved for r. ok is false when none was, or when
// the one in r's context was resolved for another request (an in-process
// request made with a caller's context): readers must then fail closed.
func Of(r *http.Request) (*Target, bool) {
	t, ok := r.Context().Value(ctxKey{}).(*Target)
	if !ok || t.path != r.URL.Path || t.host != r.Host {
		return nil, false
	}
	return t, true
}
