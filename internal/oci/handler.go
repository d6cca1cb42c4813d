// Package oci serves the OCI Distribution API (/v2/) for many registries.
// Handlers return errors; errcode.Write renders them.
package oci

import (
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/moat-registry/moat/internal/token"
)

// RegistryLookup finds a registry by lower-cased name without touching the
// database (an in-memory snapshot).
type RegistryLookup interface {
	Lookup(key string) (*meta.Registry, bool)
	All() []*meta.Registry
}

// Gate authorises data-plane requests (the registry token check).
type Gate interface {
	// Authorize returns the token's subject when it grants needs (nil needs:
	// any valid token), else an error to send (401 challenge or 403).
	Authorize(r *http.Request, needs []token.Access) (string, error)
	// MayList reports whether subject may list reg's repositories.
	MayList(r *http.Request, subject string, reg *meta.Registry) bool
}

// Handler serves /v2/.
type Handler struct {
	Meta       MetaStore
	Blobs      BlobStore
	Registries RegistryLookup
	Addressing Addressing
	// Auth checks tokens; nil serves without authentication (tests only —
	// the server always sets it).
	Auth Gate
	// Network filters listings that span registries to those the client's
	// network may reach (nil: no filter, tests only).
	Network interface {
		Allows(r *http.Request, reg *meta.Registry) bool
	}
	// MaxUploadSessions bounds the open upload sessions of one registry
	// (0: no limit). Checked before a session starts, so concurrent starts
	// may overshoot it by a few.
	MaxUploadSessions int
}

// target is the registry and repository a request addresses.
type target struct {
	reg  *meta.Registry
	repo string // repository inside the registry
	name string // the repository as the client names it (with the registry prefix in path style)
}

// ServeHTTP dispatches a /v2/ request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if err := h.serve(w, r); err != nil {
		errcode.Write(w, r, err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	rt := ParseRoute(r.URL.Path)
	switch rt.Kind {
	case KindInvalid:
		return errcode.New(errcode.RouteUnknown, "no distribution API endpoint at %s", r.URL.Path)
	case KindPing:
		if !allow(r, http.MethodGet, http.MethodHead) {
			return methodErr(r)
		}
		if reg, host := h.Addressing.HostRegistry(r.Host); host {
			if _, err := h.registry(reg); err != nil {
				return err
			}
		}
		if _, err := h.authorize(r, nil); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return nil
	case KindCatalog:
		return h.catalog(w, r, rt.Name)
	}
	t, err := h.resolve(r.Host, rt.Name)
	if err != nil {
		return err
	}
	if _, err := h.authorize(r, needs(r, rt.Kind, t.name)); err != nil {
		return err
	}
	switch rt.Kind {
	case KindTags:
		return h.tags(w, r, t)
	case KindManifest:
		return h.manifest(w, r, t, rt.Ref)
	case KindBlob:
		return h.blob(w, r, t, rt.Ref)
	case KindUploadStart:
		return h.startUpload(w, r, t)
	case KindUpload:
		return h.upload(w, r, t, rt.Ref)
	case KindReferrers:
		return h.referrers(w, r, t, rt.Ref)
	}
	return errcode.New(errcode.RouteUnknown, "")
}

func (h *Handler) registry(name string) (*meta.Registry, error) {
	reg, ok := h.Registries.Lookup(strings.ToLower(name))
	if !ok {
		return nil, errcode.New(errcode.NameUnknown, "registry %q does not exist on this server; create it with 'moat acr create --name %s --sku Premium'", name, name)
	}
	return reg, nil
}

// resolve finds the registry and repository that the client's name addresses.
func (h *Handler) resolve(host, name string) (target, error) {
	regName, repo := h.Addressing.Split(host, name)
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
	return target{reg: reg, repo: repo, name: name}, nil
}

func allow(r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	return false
}

func methodErr(r *http.Request) error {
	return errcode.New(errcode.Unsupported, "method %s is not supported on %s", r.Method, r.URL.Path)
}

// storeErr maps a store's error to the OCI error a client can act on.
func storeErr(err error, notFound errcode.Code, format string, args ...any) error {
	return errcode.FromStore(err, notFound, format, args...)
}

// setLocation sets Location to a path under the client's own view of the repository.
func setLocation(w http.ResponseWriter, t target, kind, ref string) {
	w.Header().Set("Location", "/v2/"+t.name+"/"+kind+"/"+ref)
}

var _ http.Handler = (*Handler)(nil)

// needs is the access a request to a repository requires: GET and HEAD pull,
// DELETE of content deletes, everything else pushes; a mount also pulls from
// its source repository.
func needs(r *http.Request, kind Kind, name string) []token.Access {
	act := "push"
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		if kind != KindUpload {
			act = "pull"
		}
	case r.Method == http.MethodDelete && (kind == KindManifest || kind == KindBlob):
		act = "delete"
	}
	out := []token.Access{{Type: "repository", Name: name, Actions: []string{act}}}
	if kind != KindUploadStart {
		return out // no query to parse: a parse per request showed in the HEAD profile
	}
	if from := r.URL.Query().Get("from"); from != "" && from != name {
		out = append(out, token.Access{Type: "repository", Name: from, Actions: []string{"pull"}})
	}
	return out
}

func (h *Handler) authorize(r *http.Request, needs []token.Access) (string, error) {
	if h.Auth == nil {
		return "", nil
	}
	return h.Auth.Authorize(r, needs)
}
