package oci

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/opencontainers/go-digest"
)

func parseDigest(s string) (digest.Digest, error) {
	d, ok := names.ParseDigest(s)
	if !ok {
		return "", errcode.New(errcode.DigestInvalid, "invalid digest %q: use sha256:<64 hex> or sha512:<128 hex>", s)
	}
	return d, nil
}

func (h *Handler) blob(w http.ResponseWriter, r *http.Request, t target, ref string) error {
	d, err := parseDigest(ref)
	if err != nil {
		return err
	}
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodDelete:
		if err := h.Meta.UnlinkBlob(ctx, t.reg.Key, t.repo, d); err != nil {
			return storeErr(err, errcode.BlobUnknown, "blob %s not found in %s", d, t.name)
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	default:
		return methodErr(r)
	}
	if _, err := h.Meta.BlobSize(ctx, t.reg.Key, t.repo, d); err != nil {
		return storeErr(err, errcode.BlobUnknown, "blob %s not found in %s", d, t.name)
	}
	if r.Method == http.MethodGet {
		if err := h.checkRepository(ctx, t.reg.Key, t.repo, false); err != nil {
			return err
		}
	}
	f, err := h.Blobs.Open(ctx, d)
	if err != nil {
		return storeErr(err, errcode.BlobUnknown, "blob %s not found in %s", d, t.name)
	}
	defer f.Close()
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("ETag", `"`+d.String()+`"`)
	hd.Set("Cache-Control", "max-age=31536000")
	if r.Method == http.MethodHead {
		hd.Set("Accept-Ranges", "bytes")
		hd.Set("Content-Length", strconv.FormatInt(f.Size(), 10))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	// ServeContent answers Range requests (206 / 416) and conditional ones.
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

// commitErr maps a blob commit error to the OCI error a client can act on.
func commitErr(err error, d digest.Digest) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, blob.ErrDigestMismatch):
		return errcode.New(errcode.DigestInvalid, "uploaded content does not match digest %s", d)
	}
	return errcode.Wrap(errcode.Internal, err, "")
}
