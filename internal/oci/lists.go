package oci

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/oci/errcode"
	reqtarget "github.com/moat-registry/moat/internal/target"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxPage bounds one page of tags or repositories.
const maxPage = 10000

// page reads the n and last query parameters.
func page(r *http.Request) (last string, n int, err error) {
	q := r.URL.Query()
	last = q.Get("last")
	if !q.Has("n") {
		return last, maxPage, nil
	}
	n, perr := strconv.Atoi(q.Get("n"))
	if perr != nil || n < 0 {
		return "", 0, errcode.New(errcode.PaginationInvalid, "query parameter n=%q must be a non-negative integer", q.Get("n"))
	}
	return last, min(n, maxPage), nil
}

// writePage writes one page of a list. items holds up to n+1 entries: one
// more than the page tells that a next page exists, announced by a Link header.
func writePage(w http.ResponseWriter, r *http.Request, items []string, n int, body func([]string) any) {
	if len(items) > n {
		items = items[:n]
		if n > 0 { // n=0 asks for an empty page; a Link would never advance
			q := url.Values{"n": {strconv.Itoa(n)}, "last": {items[n-1]}}
			w.Header().Set("Link", "<"+r.URL.Path+"?"+q.Encode()+`>; rel="next"`)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body(items))
}

type tagList struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

type repoList struct {
	Repositories []string `json:"repositories"`
}

func (h *Handler) tags(w http.ResponseWriter, r *http.Request, t target) error {
	if !allow(r, http.MethodGet, http.MethodHead) {
		return methodErr(r)
	}
	last, n, err := page(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if ok, err := h.Meta.RepositoryExists(ctx, t.reg.Key, t.repo); err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	} else if !ok {
		return errcode.New(errcode.NameUnknown, "repository %s not found", t.name)
	}
	tags, err := h.Meta.ListTags(ctx, t.reg.Key, t.repo, last, n+1)
	if err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	writePage(w, r, tags, n, func(items []string) any { return tagList{t.name, items} })
	return nil
}

// catalog lists repositories. In host style, and at /v2/<registry>/_catalog, it
// lists one registry; /v2/_catalog on a path-style host lists the repositories
// of every registry as <registry>/<repository>, the names clients use there.
func (h *Handler) catalog(w http.ResponseWriter, r *http.Request, rt *reqtarget.Target) error {
	if !allow(r, http.MethodGet, http.MethodHead) {
		return methodErr(r)
	}
	last, n, err := page(r)
	if err != nil {
		return err
	}
	sub, err := h.authorize(r, []token.Access{{Type: "registry", Name: "catalog", Actions: []string{"*"}}})
	if err != nil {
		return err
	}
	// In host style the Host names the registry (the one the network gate
	// checked): never list another.
	regName, reg, ok := rt.Catalog()
	if !ok {
		return errcode.New(errcode.NameUnknown, "registry %q is not served at %s: list it at its own login server", regName, r.Host)
	}
	var repos []string
	if regName != "" {
		if reg == nil {
			return errcode.New(errcode.NameUnknown, "registry %q does not exist on this server; create it with 'moat acr create --name %s --sku Premium'", regName, regName)
		}
		if h.Auth != nil && !h.Auth.MayList(r, sub, reg) {
			return errcode.New(errcode.Denied, "listing the repositories of %s needs pull permission on it", reg.Name)
		}
		repos, err = h.Meta.ListedRepositories(r.Context(), reg.Key, last, n+1)
		if err != nil {
			return errcode.Wrap(errcode.Internal, err, "")
		}
	} else if repos, err = h.allRepositories(r, rt, sub, last, n+1); err != nil {
		return err
	}
	writePage(w, r, repos, n, func(items []string) any { return repoList{items} })
	return nil
}

// allRepositories lists up to n qualified names <registry>/<repository> after last.
func (h *Handler) allRepositories(r *http.Request, rt *reqtarget.Target, sub, last string, n int) ([]string, error) {
	out := []string{}
	lastReg, lastRepo, _ := strings.Cut(last, "/")
	for _, reg := range rt.Snap.All() { // sorted by key
		if reg.Key < lastReg || h.Auth != nil && !h.Auth.MayList(r, sub, reg) || h.Network != nil && !h.Network.Allows(r, reg) {
			continue
		}
		after := ""
		if reg.Key == lastReg {
			after = lastRepo
		}
		repos, err := h.Meta.ListedRepositories(r.Context(), reg.Key, after, n-len(out))
		if err != nil {
			return nil, errcode.Wrap(errcode.Internal, err, "")
		}
		for _, repo := range repos {
			out = append(out, reg.Key+"/"+repo)
		}
		if len(out) >= n {
			break
		}
	}
	return out, nil
}

func (h *Handler) referrers(w http.ResponseWriter, r *http.Request, t target, ref string) error {
	if !allow(r, http.MethodGet, http.MethodHead) {
		return methodErr(r)
	}
	d, err := parseDigest(ref)
	if err != nil {
		return err
	}
	at := r.URL.Query().Get("artifactType")
	descs, err := h.Meta.Referrers(r.Context(), t.reg.Key, t.repo, d, at)
	if err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: descs}
	idx.SchemaVersion = 2
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	return json.NewEncoder(w).Encode(idx)
}
