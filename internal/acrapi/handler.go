// Package acrapi serves Azure Container Registry's own data-plane API,
// /acr/v1/: the catalog, and the properties and changeable attributes of
// repositories, tags and manifests, in ACR's shapes (the REST spec
// Azure.ContainerRegistry 2021-07-01). It sits behind the same network gate
// and token check as /v2/; the metadata store enforces the attributes.
package acrapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/oci"
	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/moat-registry/moat/internal/token"
)

// Store is what the API needs of the metadata store.
type Store interface {
	meta.Properties
	DeleteTag(ctx context.Context, reg, repo, tag string) error
}

// Handler serves /acr/v1/.
type Handler struct {
	Meta       Store
	Registries oci.RegistryLookup
	Addressing oci.Addressing
	// Auth checks tokens (the same gate as /v2/); nil serves without
	// authentication (tests only).
	Auth oci.Gate
	// LoginServer is the login server of reg as the client addresses it
	// (the "registry" field of every answer).
	LoginServer func(r *http.Request, reg *meta.Registry) string
}

// target is the registry and repository a request addresses.
type target struct {
	reg  *meta.Registry
	repo string // the repository inside the registry
	name string // as the client names it (with the registry in path style)
	ls   string // the registry's login server
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.serve(w, r); err != nil {
		errcode.Write(w, r, err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	rt := ParseRoute(r.URL.Path)
	if rt.Kind == KindInvalid {
		return errcode.New(errcode.RouteUnknown, "no ACR API endpoint at %s: use /acr/v1/_catalog, /acr/v1/<repository>[/_tags[/<tag>]|/_manifests[/<digest>]]", r.URL.Path)
	}
	if !methodAllowed(rt.Kind, r.Method) {
		return errcode.New(errcode.Unsupported, "method %s is not supported on %s", r.Method, r.URL.Path)
	}
	if rt.Kind == KindCatalog {
		return h.catalog(w, r, rt.Name)
	}
	t, err := h.resolve(r, rt.Name)
	if err != nil {
		return err
	}
	if _, err := h.authorize(r, []token.Access{{Type: "repository", Name: t.name, Actions: []string{action(r.Method)}}}); err != nil {
		return err
	}
	switch rt.Kind {
	case KindRepository:
		return h.repository(w, r, t)
	case KindTags:
		return h.tags(w, r, t)
	case KindTag:
		return h.tag(w, r, t, rt.Ref)
	case KindManifests:
		return h.manifests(w, r, t)
	}
	return h.manifest(w, r, t, rt.Ref)
}

// methods are the methods of each endpoint (ACR has no DELETE of
// /_manifests/{digest}: manifests are deleted through /v2/).
var methods = map[Kind][]string{
	KindCatalog:    {http.MethodGet},
	KindRepository: {http.MethodGet, http.MethodPatch, http.MethodDelete},
	KindTags:       {http.MethodGet},
	KindTag:        {http.MethodGet, http.MethodPatch, http.MethodDelete},
	KindManifests:  {http.MethodGet},
	KindManifest:   {http.MethodGet, http.MethodPatch},
}

func methodAllowed(k Kind, method string) bool {
	for _, m := range methods[k] {
		if m == method || m == http.MethodGet && method == http.MethodHead {
			return true
		}
	}
	return false
}

// action is the token action a request needs, as ACR asks for it in its
// challenge: reads need metadata_read, attribute changes metadata_write,
// deletes delete.
func action(method string) string {
	switch method {
	case http.MethodPatch:
		return "metadata_write"
	case http.MethodDelete:
		return "delete"
	}
	return "metadata_read"
}

func (h *Handler) authorize(r *http.Request, needs []token.Access) (string, error) {
	if h.Auth == nil {
		return "", nil
	}
	return h.Auth.Authorize(r, needs)
}

// resolve finds the registry and repository a repository name addresses,
// as /v2/ does: the Host names the registry in host style, the first path
// segment in path style.
func (h *Handler) resolve(r *http.Request, name string) (target, error) {
	regName, repo := h.Addressing.Split(r.Host, name)
	if regName == "" || repo == "" {
		return target{}, errcode.New(errcode.NameInvalid, "repository name %q must be <registry>/<repository> on this host", name)
	}
	if !names.ValidRepository(repo) {
		return target{}, errcode.New(errcode.NameInvalid,
			"invalid repository name %q: use lowercase letters, digits and separators (. _ __ -) between path components", repo)
	}
	reg, err := h.registry(regName)
	if err != nil {
		return target{}, err
	}
	return target{reg: reg, repo: repo, name: name, ls: h.loginServer(r, reg)}, nil
}

func (h *Handler) registry(name string) (*meta.Registry, error) {
	reg, ok := h.Registries.Lookup(strings.ToLower(name))
	if !ok {
		return nil, errcode.New(errcode.NameUnknown, "registry %q does not exist on this server; create it with 'moat acr create --name %s --sku Premium'", name, name)
	}
	return reg, nil
}

func (h *Handler) loginServer(r *http.Request, reg *meta.Registry) string {
	if h.LoginServer == nil {
		return reg.Key
	}
	return h.LoginServer(r, reg)
}

var _ http.Handler = (*Handler)(nil)
