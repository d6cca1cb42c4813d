// Package acrapi serves Azure Container Registry's own data-plane API,
// /acr/v1/: the catalog, and the properties and changeable attributes of
// repositories, tags and manifests, in ACR's shapes (the REST spec
// Azure.ContainerRegistry 2021-07-01). It sits behind the same network gate
// and token check as /v2/; the metadata store enforces the attributes.
package acrapi

import (
	"context"
	"net/http"

	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/oci"
	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta"
	reqtarget "github.com/moat-registry/moat/internal/target"
)

// Store is what the API needs of the metadata store.
type Store interface {
	meta.Properties
	DeleteTag(ctx context.Context, reg, repo, tag string) error
}

// Handler serves /acr/v1/. It reads each request's target (endpoint,
// registry, repository, reference) from internal/target: serve it behind
// target.Middleware, as /v2/ is.
type Handler struct {
	Meta Store
	// Auth checks tokens (the same gate as /v2/); nil serves without
	// authentication (tests only).
	Auth oci.Gate
	// LoginServer is the login server of reg as the client addresses it
	// (the "registry" field of every answer).
	LoginServer func(r *http.Request, reg *meta.Registry) string
}

// target is the registry and repository a request addresses.
type target struct {
	reg  *regindex.Registry
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
	rt, ok := reqtarget.Of(r)
	switch {
	case !ok:
		return errcode.New(errcode.Internal, "the request's target was not resolved")
	case !rt.Kind.ACR() || rt.Kind == reqtarget.KindACRInvalid:
		return errcode.New(errcode.RouteUnknown, "no ACR API endpoint at %s: use /acr/v1/_catalog, /acr/v1/<repository>[/_tags[/<tag>]|/_manifests[/<digest>]]", r.URL.Path)
	case !methodAllowed(rt.Kind, r.Method):
		return errcode.New(errcode.Unsupported, "method %s is not supported on %s", r.Method, r.URL.Path)
	case rt.Kind == reqtarget.KindACRCatalog:
		return h.catalog(w, r, rt)
	}
	t, err := h.resolve(r, rt)
	if err != nil {
		return err
	}
	if _, err := h.authorize(r, []token.Access{{Type: "repository", Name: t.name, Actions: []string{action(r.Method)}}}); err != nil {
		return err
	}
	switch rt.Kind {
	case reqtarget.KindACRRepository:
		return h.repository(w, r, t)
	case reqtarget.KindACRTags:
		return h.tags(w, r, t)
	case reqtarget.KindACRTag:
		return h.tag(w, r, t, rt.Ref)
	case reqtarget.KindACRManifests:
		return h.manifests(w, r, t)
	}
	return h.manifest(w, r, t, rt.Ref)
}

// methods are the methods of each endpoint (ACR has no DELETE of
// /_manifests/{digest}: manifests are deleted through /v2/).
var methods = map[reqtarget.Kind][]string{
	reqtarget.KindACRCatalog:    {http.MethodGet},
	reqtarget.KindACRRepository: {http.MethodGet, http.MethodPatch, http.MethodDelete},
	reqtarget.KindACRTags:       {http.MethodGet},
	reqtarget.KindACRTag:        {http.MethodGet, http.MethodPatch, http.MethodDelete},
	reqtarget.KindACRManifests:  {http.MethodGet},
	reqtarget.KindACRManifest:   {http.MethodGet, http.MethodPatch},
}

func methodAllowed(k reqtarget.Kind, method string) bool {
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

// resolve checks the registry and repository the request's target names,
// as /v2/ does: the Host names the registry in host style, the first path
// segment in path style.
func (h *Handler) resolve(r *http.Request, rt *reqtarget.Target) (target, error) {
	if rt.RegistryName == "" || rt.Repo == "" {
		return target{}, errcode.New(errcode.NameInvalid, "repository name %q must be <registry>/<repository> on this host", rt.Name)
	}
	if !names.ValidRepository(rt.Repo) {
		return target{}, errcode.New(errcode.NameInvalid,
			"invalid repository name %q: use lowercase letters, digits and separators (. _ __ -) between path components", rt.Repo)
	}
	reg, err := registry(rt.Registry, rt.RegistryName)
	if err != nil {
		return target{}, err
	}
	return target{reg: reg, repo: rt.Repo, name: rt.Name, ls: h.loginServer(r, reg)}, nil
}

// registry is reg, the registry named name, or NAME_UNKNOWN when there is none.
func registry(reg *regindex.Registry, name string) (*regindex.Registry, error) {
	if reg == nil {
		return nil, errcode.New(errcode.NameUnknown, "registry %q does not exist on this server; create it with 'moat acr create --name %s --sku Premium'", name, name)
	}
	return reg, nil
}

func (h *Handler) loginServer(r *http.Request, reg *regindex.Registry) string {
	if h.LoginServer == nil {
		return reg.Key
	}
	return h.LoginServer(r, reg.Registry)
}

var _ http.Handler = (*Handler)(nil)
