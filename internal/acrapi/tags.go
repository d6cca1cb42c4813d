package acrapi

import (
	"net/http"

	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/moat-registry/moat/internal/store/meta"
)

// tags serves GET /acr/v1/{name}/_tags: one page of the listable tags, by
// name or by time (orderby), optionally of one digest.
func (h *Handler) tags(w http.ResponseWriter, r *http.Request, t target) error {
	l, err := parseListing(r, true)
	if err != nil {
		return err
	}
	if d := r.URL.Query().Get("digest"); d != "" {
		if l.Digest, err = parseDigest(d); err != nil {
			return err
		}
	}
	ctx := r.Context()
	if _, err := h.Meta.RepositoryAttributes(ctx, t.reg.Key, t.repo); err != nil {
		return errcode.FromStore(err, errcode.NameUnknown, "repository %s not found in registry %s", t.repo, t.reg.Name)
	}
	if l.needTime {
		at, err := h.Meta.TagProperties(ctx, t.reg.Key, t.repo, l.After)
		if err != nil {
			return errcode.FromStore(err, errcode.TagUnknown, "the tag %q named by last= does not exist (any more): list again without last", l.After)
		}
		l.AfterTime = at.Updated
	}
	page := l.Page
	page.N++
	found, err := h.Meta.ListTagProperties(ctx, t.reg.Key, t.repo, page)
	if err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	out := tagList{Registry: t.ls, ImageName: t.repo, Tags: []tagBase{}}
	for _, tag := range found[:min(len(found), l.N)] {
		out.Tags = append(out.Tags, tagShape(tag))
	}
	if len(found) > l.N && l.N > 0 {
		lastTag := found[l.N-1]
		l.link(w, r, true, lastTag.Name, lastTag.Updated)
	}
	return writeJSON(w, http.StatusOK, out)
}

// tag serves GET, PATCH and DELETE /acr/v1/{name}/_tags/{tag}.
func (h *Handler) tag(w http.ResponseWriter, r *http.Request, t target, tag string) error {
	if !names.ValidTag(tag) {
		return errcode.New(errcode.TagUnknown, "invalid tag %q: tags are up to 128 of [A-Za-z0-9_.-], not starting with . or -", tag)
	}
	ctx := r.Context()
	notFound := func(err error) error {
		return errcode.FromStore(err, errcode.TagUnknown, "tag %s:%s not found in registry %s", t.repo, tag, t.reg.Name)
	}
	var info *meta.TagInfo
	var err error
	switch r.Method {
	case http.MethodDelete:
		if err := h.Meta.DeleteTag(ctx, t.reg.Key, t.repo, tag); err != nil {
			return notFound(err)
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	case http.MethodPatch:
		p, perr := readPatch(r)
		if perr != nil {
			return perr
		}
		info, err = h.Meta.SetTagAttributes(ctx, t.reg.Key, t.repo, tag, p)
	default:
		info, err = h.Meta.TagProperties(ctx, t.reg.Key, t.repo, tag)
	}
	if err != nil {
		return notFound(err)
	}
	return writeJSON(w, http.StatusOK, tagAttributes{Registry: t.ls, ImageName: t.repo, Tag: tagShape(info)})
}
