package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

// startUpload answers POST /blobs/uploads/: a mount, a monolithic upload
// (?digest=), or the start of a session.
func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, t target) error {
	if r.Method != http.MethodPost {
		return methodErr(r)
	}
	q := r.URL.Query()
	ctx := r.Context()
	if err := h.checkRepository(ctx, t.reg.Key, t.repo, true); err != nil {
		return err
	}
	if m := q.Get("mount"); m != "" {
		d, err := parseDigest(m)
		if err != nil {
			return err
		}
		if ok, err := h.mount(ctx, t, d, q.Get("from"), q.Has("from")); err != nil {
			return err
		} else if ok {
			return blobCreated(w, t, d)
		}
		// Not mountable: start an ordinary upload, as the spec asks.
	}
	alg := digest.Canonical
	var want digest.Digest
	if s := q.Get("digest"); s != "" {
		d, err := parseDigest(s)
		if err != nil {
			return err
		}
		want, alg = d, d.Algorithm()
	}
	if want == "" {
		if err := h.checkUploadSessions(ctx, t); err != nil {
			return err
		}
	}
	u, err := h.Blobs.NewUpload(ctx, alg)
	if err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	if want != "" {
		// Monolithic upload: the body is the whole blob.
		if err := checkLength(r, u.Size()); err != nil {
			u.Cancel(ctx)
			return err
		}
		if _, err := u.AppendLast(ctx, r.Body); err != nil {
			u.Cancel(ctx)
			return errcode.Wrap(errcode.BlobUploadInvalid, err, "reading the blob failed")
		}
		return h.commit(w, r, t, u, want)
	}
	defer u.Close()
	if err := h.Meta.CreateUpload(ctx, &meta.Upload{ID: u.ID(), Registry: t.reg.Key, Repository: t.repo, CreatedAt: time.Now()}); err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	uploadStatus(w, t, u)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// checkUploadSessions refuses a new session when the registry has
// MaxUploadSessions open: a client that opens sessions and never finishes
// them would otherwise fill the metadata store and the upload area.
func (h *Handler) checkUploadSessions(ctx context.Context, t target) error {
	if h.MaxUploadSessions <= 0 {
		return nil
	}
	n, err := h.Meta.CountUploads(ctx, t.reg.Key)
	if err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	if n >= h.MaxUploadSessions {
		return errcode.New(errcode.TooManyRequests, "registry %s has %d upload sessions open, its limit: finish or cancel uploads (DELETE their upload URL) or wait for abandoned ones to expire", t.reg.Name, n)
	}
	return nil
}

// mount links d into t from another repository of the same registry (from) or,
// when from is absent, from anywhere in the registry. Blobs never cross registries.
func (h *Handler) mount(ctx context.Context, t target, d digest.Digest, from string, hasFrom bool) (bool, error) {
	var size int64
	var err error
	if hasFrom {
		src, rerr := resolve(t.req, from)
		if rerr != nil || src.reg.Key != t.reg.Key {
			return false, nil
		}
		if err := h.checkRepository(ctx, src.reg.Key, src.repo, false); err != nil {
			return false, nil // a copy out of a repository that may not be read: upload it instead
		}
		size, err = h.Meta.BlobSize(ctx, src.reg.Key, src.repo, d)
	} else {
		size, err = h.Meta.FindBlob(ctx, t.reg.Key, d)
	}
	if errors.Is(err, meta.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, errcode.Wrap(errcode.Internal, err, "")
	}
	if err := h.link(ctx, t, d, size); errors.Is(err, errBlobGone) {
		return false, nil // upload it instead
	} else if err != nil {
		return false, err
	}
	return true, nil
}

// errBlobGone: garbage collection deleted (or is deleting) the blob's bytes.
var errBlobGone = errors.New("blob deleted by garbage collection")

// link links d into t. The link is refused while garbage collection deletes
// d's bytes (a tombstone), and the bytes are checked after linking: GC may
// have deleted them between the client's commit and this link, which the
// check then sees (docs/gc.md, the safety argument).
func (h *Handler) link(ctx context.Context, t target, d digest.Digest, size int64) error {
	if err := h.Meta.LinkBlob(ctx, t.reg.Key, t.repo, d, size); errors.Is(err, meta.ErrBlobDeleting) {
		return errBlobGone
	} else if e := errcode.Locked(err); e != nil {
		return e
	} else if err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	if _, err := h.Blobs.Stat(ctx, d); errors.Is(err, blob.ErrNotFound) {
		return errBlobGone
	} else if err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	return nil
}

// upload serves /blobs/uploads/<id>: PATCH a chunk, PUT to finish, GET status, DELETE to cancel.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request, t target, id string) error {
	if !allow(r, http.MethodGet, http.MethodPatch, http.MethodPut, http.MethodDelete) {
		return methodErr(r)
	}
	ctx := r.Context()
	unknown := errcode.New(errcode.BlobUploadUnknown, "upload %s is not in progress in %s: start a new one with POST", id, t.name)
	if s, err := h.Meta.GetUpload(ctx, id); errors.Is(err, meta.ErrNotFound) || (err == nil && (s.Registry != t.reg.Key || s.Repository != t.repo)) {
		return unknown
	} else if err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	u, err := h.Blobs.ResumeUpload(ctx, id)
	if errors.Is(err, blob.ErrNotFound) {
		h.Meta.DeleteUpload(ctx, id)
		return unknown
	} else if err != nil {
		return errcode.Wrap(errcode.Internal, err, "")
	}
	switch r.Method {
	case http.MethodGet:
		defer u.Close()
		uploadStatus(w, t, u)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		if err := u.Cancel(ctx); err != nil {
			return errcode.Wrap(errcode.Internal, err, "")
		}
		h.Meta.DeleteUpload(ctx, id)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPatch:
		defer u.Close()
		if err := h.appendChunk(r, u, u.Append); err != nil {
			return err
		}
		uploadStatus(w, t, u)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	// PUT: an optional last chunk, then commit.
	d, err := parseDigest(r.URL.Query().Get("digest"))
	if err != nil {
		u.Close()
		return err
	}
	if err := h.appendChunk(r, u, u.AppendLast); err != nil {
		u.Close()
		return err
	}
	return h.commit(w, r, t, u, d)
}

// appendChunk appends the request body to u with add (u.Append, or
// u.AppendLast when the commit follows) after checking Content-Range and
// Content-Length against the upload's offset.
func (h *Handler) appendChunk(r *http.Request, u blob.Upload, add func(context.Context, io.Reader) (int64, error)) error {
	if err := checkLength(r, u.Size()); err != nil {
		return err
	}
	if _, err := add(r.Context(), r.Body); err != nil {
		return errcode.Wrap(errcode.BlobUploadInvalid, err, "reading the chunk failed after %d bytes; check the upload status and resume", u.Size())
	}
	return nil
}

// checkLength validates Content-Range (must start at the current offset) and
// Content-Length (must equal the range's length).
func checkLength(r *http.Request, offset int64) error {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return nil
	}
	start, end, ok := ParseContentRange(cr)
	if !ok {
		return errcode.New(errcode.BlobUploadInvalid, "invalid Content-Range %q: use <start>-<end> (inclusive byte offsets)", cr)
	}
	if start != offset {
		return errcode.New(errcode.RangeInvalid, "chunk starts at %d but the upload has %d bytes; resume at the offset in the Range header", start, offset).
			WithHeader("Range", rangeHeader(offset)).WithHeader("Location", r.URL.Path)
	}
	if r.ContentLength >= 0 && r.ContentLength != end-start+1 {
		return errcode.New(errcode.SizeInvalid, "Content-Length %d does not match Content-Range %s", r.ContentLength, cr)
	}
	return nil
}

// ParseContentRange parses the "<start>-<end>" of a chunk upload (an optional
// "bytes " or "bytes=" prefix accepted).
func ParseContentRange(s string) (start, end int64, ok bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "bytes "), "bytes=")
	a, b, found := strings.Cut(s, "-")
	if !found || !digits(a) || !digits(b) {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

func (h *Handler) commit(w http.ResponseWriter, r *http.Request, t target, u blob.Upload, d digest.Digest) error {
	ctx := r.Context()
	id := u.ID()
	size, err := u.Commit(ctx, d)
	if err != nil {
		if errors.Is(err, blob.ErrDigestMismatch) {
			// The bytes can never become this blob: drop the upload.
			u.Cancel(ctx)
			h.Meta.DeleteUpload(ctx, id)
		}
		return commitErr(err, d)
	}
	h.Meta.DeleteUpload(ctx, id)
	if err := h.link(ctx, t, d, size); errors.Is(err, errBlobGone) {
		return errcode.New(errcode.BlobUnknown, "blob %s was deleted by garbage collection while it was being pushed; upload it again", d)
	} else if err != nil {
		return err
	}
	return blobCreated(w, t, d)
}

func blobCreated(w http.ResponseWriter, t target, d digest.Digest) error {
	setLocation(w, t, "blobs", d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	w.WriteHeader(http.StatusCreated)
	return nil
}

func uploadStatus(w http.ResponseWriter, t target, u blob.Upload) {
	setLocation(w, t, "blobs/uploads", u.ID())
	w.Header().Set("Range", rangeHeader(u.Size()))
	w.Header().Set("Docker-Upload-UUID", u.ID())
	w.Header().Set("Content-Length", "0")
}

// rangeHeader is the Range of bytes received: "0-<last>", "0-0" when none yet.
func rangeHeader(size int64) string {
	return fmt.Sprintf("0-%d", max(size-1, 0))
}

func digits(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
