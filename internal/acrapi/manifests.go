package acrapi

import (
	"net/http"

	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

func parseDigest(s string) (digest.Digest, error) {
	d, ok := names.ParseDigest(s)
	if !ok {
		return "", errcode.New(errcode.DigestInvalid, "invalid digest %q: use sha256:<64 hex> or sha512:<128 hex>", s)
	}
	return d, nil
}

// manifests serves GET /acr/v1/{name}/_manifests: one page of the listable
// manifests, by digest or by time (orderby).
func (h *Handler) manifests(w http.ResponseWriter, r *http.Request, t target) error {
	l, err := parseListing(r, true)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := h.Meta.RepositoryAttributes(ctx, t.reg.Key, t.repo); err != nil {
		return errcode.FromStore(err, errcode.NameUnknown, "repository %s not found in registry %s", t.repo, t.reg.Name)
	}
	if l.needTime {
		d, err := parseDigest(l.After)
		if err != nil {
			return err
		}
		at, err := h.Meta.ManifestProperties(ctx, t.reg.Key, t.repo, d)
		if err != nil {
			return errcode.FromStore(err, errcode.ManifestUnknown, "the manifest %s named by last= does not exist (any more): list again without last", d)
		}
		l.AfterTime = at.Updated
	}
	page := l.Page
	page.N++
	found, err := h.Meta.ListManifestProperties(ctx, t.reg.Key, t.repo, page)
	if err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	out := manifestList{Registry: t.ls, ImageName: t.repo, Manifests: []manifestBase{}}
	for _, m := range found[:min(len(found), l.N)] {
		out.Manifests = append(out.Manifests, manifestShape(m))
	}
	if len(found) > l.N && l.N > 0 {
		last := found[l.N-1]
		l.link(w, r, true, last.Digest.String(), last.Updated)
	}
	return writeJSON(w, http.StatusOK, out)
}

// manifest serves GET and PATCH /acr/v1/{name}/_manifests/{digest}.
func (h *Handler) manifest(w http.ResponseWriter, r *http.Request, t target, ref string) error {
	d, err := parseDigest(ref)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var info *meta.ManifestInfo
	if r.Method == http.MethodPatch {
		p, perr := readPatch(r)
		if perr != nil {
			return perr
		}
		info, err = h.Meta.SetManifestAttributes(ctx, t.reg.Key, t.repo, d, p)
	} else {
		info, err = h.Meta.ManifestProperties(ctx, t.reg.Key, t.repo, d)
	}
	if err != nil {
		return errcode.FromStore(err, errcode.ManifestUnknown, "manifest %s@%s not found in registry %s", t.repo, d, t.reg.Name)
	}
	return writeJSON(w, http.StatusOK, manifestAttributes{Registry: t.ls, ImageName: t.repo, Manifest: manifestShape(info)})
}
