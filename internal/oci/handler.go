// Package oci serves the OCI Distribution API (/v2/) for many registries.
// Handlers return errors; errcode.Write renders them.
package oci

import (
	"net/http"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/moat-registry/moat/internal/regindex"
	reqtarget "github.com/moat-registry/moat/internal/target"
)

// Gate authorises data-plane requests (the registry token check).
type Gate interface {
	// Authorize returns the token's subject when it grants needs (nil needs:
	// any valid token), else an error to send (401 challenge or 403).
	Authorize(r *http.Request, needs []token.Access) (string, error)
	// MayList reports whether subject may list reg's repositories.
	MayList(r *http.Request, subject string, reg *regindex.Registry) bool
}

// Handler serves /v2/. It reads each request's target (registry,
// repository, endpoint) from internal/target: serve it behind
// target.Middleware.
type Handler struct {
	Meta  MetaStore
	Blobs BlobStore
	// Auth checks tokens; nil serves without authentication (tests only —
	// the server always sets it).
	Auth Gate
	// Network filters listings that span registries to those the client's
	// network may reach (nil: no filter, tests only).
	Network interface {
		Allows(r *http.Request, reg *regindex.Registry) bool
	}
	// Audit records manifest pushes, pulls and deletes (nil: nowhere).
	Audit audit.Recorder
	// MaxUploadSessions bounds the open upload sessions of one registry
	// (0: no limit). Checked before a session starts, so concurrent starts
	// may overshoot it by a few.
	MaxUploadSessions int
}

// target is the registry and repository a request addresses.
type target struct {
	reg  *regindex.Registry
	repo string // repository inside the registry
	name string // the repository as the client names it (with the registry prefix in path style)
	req  *reqtarget.Target
}

// APIVersion sets Docker-Distribution-API-Version on every /v2/ answer, the
// network gate's and the rate limits' included: Docker checks it on every
// response, and without it falls back to plain HTTP and reports a 400
// instead of the registry's message.
func APIVersion(next http.Handler) http.Handler {
	apiVersion := []string{"registry/2.0"} // shared: Header().Add would copy it (cap 1), nothing writes into it
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Docker-Distribution-Api-Version"] = apiVersion // canonical key: as Set, without its work
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP dispatches a /v2/ request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.serve(w, r); err != nil {
		errcode.Write(w, r, err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	rt, ok := reqtarget.Of(r)
	if !ok {
		return errcode.New(errcode.Internal, "the request's target was not resolved")
	}
	switch rt.Kind {
	case reqtarget.KindPing:
		if !allow(r, http.MethodGet, http.MethodHead) {
			return methodErr(r)
		}
		if rt.HostStyle {
			if _, err := registry(rt); err != nil {
				return err
			}
		}
		if _, err := h.authorize(r, nil); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return nil
	case reqtarget.KindCatalog:
		return h.catalog(w, r, rt)
	case reqtarget.KindTags, reqtarget.KindManifest, reqtarget.KindBlob, reqtarget.KindUploadStart, reqtarget.KindUpload, reqtarget.KindReferrers:
	default:
		return errcode.New(errcode.RouteUnknown, "no distribution API endpoint at %s", r.URL.Path)
	}
	t, err := resolve(rt, rt.Name)
	if err != nil {
		return err
	}
	sub, err := h.authorize(r, needs(r, rt.Kind, t.name))
	if rt.Kind == reqtarget.KindManifest {
		if err == nil {
			err = h.manifest(w, r, t, rt.Ref)
		}
		h.recordManifest(r, w, t, sub, err)
		return err
	}
	if err != nil {
		return err
	}
	switch rt.Kind {
	case reqtarget.KindTags:
		return h.tags(w, r, t)
	case reqtarget.KindBlob:
		return h.blob(w, r, t, rt.Ref)
	case reqtarget.KindUploadStart:
		return h.startUpload(w, r, t)
	case reqtarget.KindUpload:
		return h.upload(w, r, t, rt.Ref)
	}
	return h.referrers(w, r, t, rt.Ref)
}

// registry is the registry the request's path or Host names.
func registry(rt *reqtarget.Target) (*regindex.Registry, error) {
	if rt.Registry == nil {
		name := rt.RegistryName
		return nil, errcode.New(errcode.NameUnknown, "registry %q does not exist on this server; create it with 'moat acr create --name %s --sku Premium'", name, name)
	}
	return rt.Registry, nil
}

// resolve finds the registry and repository that a repository name of the
// request addresses: the request's own (the name of its path), or another
// (a mount's source).
func resolve(rt *reqtarget.Target, name string) (target, error) {
	reg, regName, repo := rt.Registry, rt.RegistryName, rt.Repo
	if name != rt.Name {
		reg, regName, repo = rt.Split(name)
	}
	if regName == "" || repo == "" {
		return target{}, errcode.New(errcode.NameInvalid, "repository name %q must be <registry>/<repository> on this host", name)
	}
	if !names.ValidRepository(repo) {
		return target{}, errcode.New(errcode.NameInvalid,
			"invalid repository name %q: use lowercase letters, digits and separators (. _ __ -) between path components", repo)
	}
	if reg == nil {
		return target{}, errcode.New(errcode.NameUnknown, "registry %q does not exist on this server; create it with 'moat acr create --name %s --sku Premium'", regName, regName)
	}
	return target{reg: reg, repo: repo, name: name, req: rt}, nil
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

// The actions a request needs, shared and never modified (one allocation
// fewer per request).
var pullAction, pushAction, deleteAction = []string{"pull"}, []string{"push"}, []string{"delete"}

// needs is the access a request to a repository requires: GET and HEAD pull,
// DELETE of content deletes, everything else pushes; a mount also pulls from
// its source repository.
func needs(r *http.Request, kind reqtarget.Kind, name string) []token.Access {
	act := pushAction
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		if kind != reqtarget.KindUpload {
			act = pullAction
		}
	case r.Method == http.MethodDelete && (kind == reqtarget.KindManifest || kind == reqtarget.KindBlob):
		act = deleteAction
	}
	out := []token.Access{{Type: "repository", Name: name, Actions: act}}
	if kind != reqtarget.KindUploadStart {
		return out // no query to parse: a parse per request showed in the HEAD profile
	}
	if from := r.URL.Query().Get("from"); from != "" && from != name {
		out = append(out, token.Access{Type: "repository", Name: from, Actions: pullAction})
	}
	return out
}

func (h *Handler) authorize(r *http.Request, needs []token.Access) (string, error) {
	if h.Auth == nil {
		return "", nil
	}
	return h.Auth.Authorize(r, needs)
}
