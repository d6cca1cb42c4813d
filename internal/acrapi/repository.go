package acrapi

import (
	"net/http"
	"time"

	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/oci/errcode"
	reqtarget "github.com/moat-registry/moat/internal/target"
)

// repository serves GET, PATCH and DELETE /acr/v1/{name}.
func (h *Handler) repository(w http.ResponseWriter, r *http.Request, t target) error {
	ctx := r.Context()
	notFound := func(err error) error {
		return errcode.FromStore(err, errcode.NameUnknown, "repository %s not found in registry %s", t.repo, t.reg.Name)
	}
	switch r.Method {
	case http.MethodDelete:
		del, err := h.Meta.DeleteRepository(ctx, t.reg.Key, t.repo)
		if err != nil {
			return notFound(err)
		}
		return writeJSON(w, http.StatusAccepted, deletedRepository{ManifestsDeleted: nonNil(del.Manifests), TagsDeleted: nonNil(del.Tags)})
	case http.MethodPatch:
		p, err := readPatch(r)
		if err != nil {
			return err
		}
		info, err := h.Meta.SetRepositoryAttributes(ctx, t.reg.Key, t.repo, p)
		if err != nil {
			return notFound(err)
		}
		return writeJSON(w, http.StatusOK, repositoryShape(t, info))
	}
	info, err := h.Meta.RepositoryProperties(ctx, t.reg.Key, t.repo)
	if err != nil {
		return notFound(err)
	}
	return writeJSON(w, http.StatusOK, repositoryShape(t, info))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// catalog serves GET /acr/v1/_catalog: the listable repositories of the
// registry the Host names (host style) or the path names
// (/acr/v1/<registry>/_catalog, path style), by name.
func (h *Handler) catalog(w http.ResponseWriter, r *http.Request, rt *reqtarget.Target) error {
	l, err := parseListing(r, false)
	if err != nil {
		return err
	}
	sub, err := h.authorize(r, []token.Access{{Type: "registry", Name: "catalog", Actions: []string{"*"}}})
	if err != nil {
		return err
	}
	regName, reg, ok := rt.Catalog()
	if !ok {
		return errcode.New(errcode.NameUnknown, "registry %q is not served at %s: list it at its own login server", regName, r.Host)
	}
	if regName == "" {
		return errcode.New(errcode.NameUnknown, "this host serves several registries: list one with /acr/v1/<registry>/_catalog")
	}
	if reg, err = registry(reg, regName); err != nil {
		return err
	}
	if h.Auth != nil && !h.Auth.MayList(r, sub, reg) {
		return errcode.New(errcode.Denied, "listing the repositories of %s needs read permission on it", reg.Name)
	}
	repos, err := h.Meta.ListedRepositories(r.Context(), reg.Key, l.After, l.N+1)
	if err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	full := len(repos) > l.N
	repos = repos[:min(len(repos), l.N)]
	last := ""
	if len(repos) > 0 {
		last = repos[len(repos)-1]
	}
	l.link(w, r, full, last, time.Time{})
	return writeJSON(w, http.StatusOK, repositories{Repositories: repos})
}
