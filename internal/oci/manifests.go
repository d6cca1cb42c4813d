package oci

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/oci/manifest"
	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

func (h *Handler) manifest(w http.ResponseWriter, r *http.Request, t target, ref string) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return h.getManifest(w, r, t, ref)
	case http.MethodPut:
		return h.putManifest(w, r, t, ref)
	case http.MethodDelete:
		return h.deleteManifest(w, r, t, ref)
	}
	return methodErr(r)
}

// reference parses a tag or digest reference; exactly one of the results is set.
func reference(ref string) (tag string, d digest.Digest, err error) {
	if names.LooksLikeDigest(ref) {
		d, ok := names.ParseDigest(ref)
		if !ok {
			return "", "", errcode.New(errcode.DigestInvalid, "invalid digest %q: use sha256:<64 hex> or sha512:<128 hex>", ref)
		}
		return "", d, nil
	}
	if !names.ValidTag(ref) {
		return "", "", errcode.New(errcode.ManifestInvalid, "invalid tag %q: use up to 128 of [A-Za-z0-9_.-], not starting with . or -", ref)
	}
	return ref, "", nil
}

func (h *Handler) getManifest(w http.ResponseWriter, r *http.Request, t target, ref string) error {
	tag, d, err := reference(ref)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if tag != "" {
		if d, err = h.Meta.ResolveTag(ctx, t.reg.Key, t.repo, tag); err != nil {
			return storeErr(err, errcode.ManifestUnknown, "manifest %s:%s not found", t.name, tag)
		}
	}
	m, err := h.Meta.GetManifest(ctx, t.reg.Key, t.repo, d)
	if err != nil {
		return storeErr(err, errcode.ManifestUnknown, "manifest %s@%s not found", t.name, d)
	}
	// Canonical keys, and one allocation for the four values: the hot path
	// of a manifest HEAD.
	v := []string{m.MediaType, strconv.Itoa(len(m.Content)), m.Digest.String(), `"` + m.Digest.String() + `"`}
	hd := w.Header()
	hd["Content-Type"], hd["Content-Length"], hd["Docker-Content-Digest"], hd["Etag"] = v[0:1:1], v[1:2:2], v[2:3:3], v[3:4:4]
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(m.Content)
	}
	return nil
}

func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, t target, ref string) error {
	tag, want, err := reference(ref)
	if err != nil {
		return err
	}
	tags := r.URL.Query()["tag"]
	for _, tg := range tags {
		if !names.ValidTag(tg) {
			return errcode.New(errcode.ManifestInvalid, "invalid tag parameter %q", tg)
		}
	}
	if tag != "" {
		tags = append(tags, tag)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, manifest.MaxSize+1))
	if err != nil {
		return errcode.Wrap(errcode.ManifestInvalid, err, "could not read the manifest body")
	}
	if len(body) > manifest.MaxSize {
		return errcode.New(errcode.ManifestTooLarge, "manifest exceeds the %d byte (4 MiB) limit; split it, e.g. into an index of smaller manifests", manifest.MaxSize)
	}
	p, err := manifest.Parse(r.Header.Get("Content-Type"), body)
	var merr *manifest.Error
	if errors.As(err, &merr) {
		return errcode.New(errcode.ManifestInvalid, "%s", merr.Msg)
	} else if err != nil {
		return err
	}
	alg := digest.Canonical
	if want != "" {
		alg = want.Algorithm()
	}
	d := alg.FromBytes(body)
	if want != "" && d != want {
		return errcode.New(errcode.DigestInvalid, "manifest digest is %s, not %s as in the URL", d, want)
	}
	// References are not required to exist: an index may be sparse (a copy of
	// some platforms only) and foreign layers are never pushed. A pull of a
	// missing blob gets BLOB_UNKNOWN then.
	ctx := r.Context()
	m := &meta.Manifest{Digest: d, MediaType: p.MediaType, Content: body, ArtifactType: p.ArtifactType, Annotations: p.Annotations}
	if p.Subject != nil {
		m.Subject = p.Subject.Digest
	}
	for _, ref := range append(p.Blobs, p.Manifests...) {
		m.Refs = append(m.Refs, ref.Digest)
	}
	m.Props = h.describe(ctx, t, p, len(body))
	if err := h.Meta.PutManifest(ctx, t.reg.Key, t.repo, m, tags...); errors.Is(err, meta.ErrReferenceRemoved) {
		return errcode.New(errcode.ManifestBlobUnknown, "%v while the manifest was being pushed; push it again, then the manifest",
			strings.TrimPrefix(err.Error(), "meta: "))
	} else if e := errcode.Locked(err); e != nil {
		return e
	} else if err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	if p.Subject != nil {
		w.Header().Set("OCI-Subject", p.Subject.Digest.String())
	}
	for _, tg := range tags {
		w.Header().Add("OCI-Tag", tg)
	}
	setLocation(w, t, "manifests", d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) deleteManifest(w http.ResponseWriter, r *http.Request, t target, ref string) error {
	tag, d, err := reference(ref)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if tag != "" {
		if err := h.Meta.DeleteTag(ctx, t.reg.Key, t.repo, tag); err != nil {
			return storeErr(err, errcode.ManifestUnknown, "tag %s:%s not found", t.name, tag)
		}
	} else if err := h.Meta.DeleteManifest(ctx, t.reg.Key, t.repo, d); err != nil {
		return storeErr(err, errcode.ManifestUnknown, "manifest %s@%s not found", t.name, d)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
