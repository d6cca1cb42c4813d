package target

import (
	"context"
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/regindex"
)

// Snapshots gives the current registries' snapshot (regindex.Index).
type Snapshots interface {
	Load() *regindex.Snapshot
}

// Middleware resolves every request's target and attaches it before calling
// next. It never answers a request itself: a target with Err is answered by
// whoever reads it (the network gate, the token service).
func Middleware(index Snapshots, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, attach(w, r, index.Load()))
	})
}

// Attach returns r with its target resolved on snap (for requests made
// in-process, and tests).
func Attach(r *http.Request, snap *regindex.Snapshot) *http.Request { return attach(nil, r, snap) }

func attach(w http.ResponseWriter, r *http.Request, snap *regindex.Snapshot) *http.Request {
	n := new(Node)
	n.Resolve(w, r, snap)
	return r.WithContext(n)
}

// Node is a context node that carries a Target in its own allocation. A
// middleware that makes a context node of its own per request may embed one
// and resolve the target into it (the server's observer does), so that both
// cost one allocation and one copy of the request (r.WithContext) instead of
// two; its Value must fall back to the Node's.
type Node struct {
	context.Context
	t Target
}

// Resolve makes n the target of r, a child of r's context; the caller then
// serves r.WithContext(n or what embeds it).
func (n *Node) Resolve(w http.ResponseWriter, r *http.Request, snap *regindex.Snapshot) *Target {
	n.Context = r.Context()
	Resolve(w, r, snap, &n.t)
	return &n.t
}

func (n *Node) Value(key any) any {
	if key == (ctxKey{}) {
		return &n.t
	}
	return n.Context.Value(key)
}

// Resolve fills t for r from snap. It reads a token request's form body (at
// most MaxTokenForm bytes); nothing else of the body.
func Resolve(w http.ResponseWriter, r *http.Request, snap *regindex.Snapshot, t *Target) {
	t.Snap, t.host, t.path = snap, r.Host, r.URL.Path
	t.Route = ParseRoute(r.URL.Path)
	hostReg, hostStyle := snap.Addressing.HostRegistry(r.Host)
	switch {
	case t.Kind.Distribution() || t.Kind.ACR():
		t.HostStyle = hostStyle
		t.addressed(r.URL.Path, hostReg)
	case t.Kind.TokenEndpoint():
		t.HostStyle = hostStyle
		if hostStyle {
			t.RegistryName = hostReg
			t.Registry, _ = snap.Lookup(hostReg)
		}
		if t.Token, t.Err = parseTokenRequest(w, r, t.Kind); t.Err == nil {
			t.tokenRegistries()
		}
	case t.Kind == KindManagement:
		// The registry a management request is about, for metrics and logs.
		t.RegistryName = managedRegistry(r.URL.Path)
		t.Registry, _ = snap.LookupName(t.RegistryName)
	}
	switch {
	case hostStyle && t.Registry != nil && t.Registry.Key == hostReg:
		t.Audience = t.Registry.LoginServer
	case hostStyle:
		t.Audience = snap.Addressing.LoginServer(hostReg)
	default:
		t.Audience = strings.ToLower(r.Host)
	}
}

// addressed finds the registry and repository of a /v2/ or /acr/v1/ request:
// in host style the Host's registry; in path style the first segment of the
// repository name (or, for a path that names no endpoint, of the path), and
// none for the ping and the server-wide catalogs.
func (t *Target) addressed(path, hostReg string) {
	switch {
	case t.HostStyle:
		t.RegistryName, t.Repo = hostReg, t.Name
	case t.Kind == KindPing || t.Name == "" && (t.Kind == KindCatalog || t.Kind == KindACRCatalog):
		return
	case t.Kind == KindInvalid || t.Kind == KindACRInvalid:
		rest := strings.TrimPrefix(strings.TrimPrefix(path, "/v2/"), "/acr/v1/")
		t.RegistryName, _ = firstSegment(rest)
	default:
		t.RegistryName, t.Repo = firstSegment(t.Name)
	}
	if t.Kind == KindCatalog || t.Kind == KindACRCatalog {
		t.Repo = ""
	}
	if t.RegistryName == "" {
		return
	}
	if t.Registry, _ = t.Snap.LookupName(t.RegistryName); t.Registry != nil {
		t.one[0] = t.Registry
		t.Registries = t.one[:]
	}
}

// tokenRegistries are the registries a token request is for: the Host's (host
// style), those of its repository scopes, and the one its service names when
// that is a path-style login server "<host>/<registry>" (what 'moat acr
// login' sends).
func (t *Target) tokenRegistries() {
	add := func(reg *regindex.Registry) {
		if reg == nil {
			return
		}
		for _, r := range t.Registries {
			if r == reg {
				return
			}
		}
		t.Registries = append(t.Registries, reg)
	}
	add(t.Registry)
	for _, one := range t.Token.Scopes {
		a, ok := ParseScope(one)
		if !ok {
			continue
		}
		t.Token.Access = append(t.Token.Access, a)
		if a.Type == "repository" {
			reg, _, _ := t.Split(a.Name)
			add(reg)
		}
	}
	if i := strings.LastIndexByte(t.Token.Service, '/'); i >= 0 {
		reg, _ := t.Snap.LookupName(t.Token.Service[i+1:])
		add(reg)
	}
}

// managedRegistry is the registry name in a management path
// (.../registries/{name}[/...]), or "".
func managedRegistry(p string) string {
	const seg = "/registries/"
	i := strings.Index(p, seg)
	if i < 0 {
		i = strings.Index(strings.ToLower(p), seg)
	}
	if i < 0 {
		return ""
	}
	name, _ := firstSegment(p[i+len(seg):])
	return name
}
