package server

import (
	"context"
	"errors"
	"io"

	"github.com/moat-registry/moat/internal/blob"
	"github.com/moat-registry/moat/internal/meta"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"
)

// newStoreErrors is moat_store_errors_total{store,op}: the errors the
// metadata store ("meta") and the blob store ("blob") return, by method.
// The sentinel answers (not found, exists, version conflict, digest
// mismatch, unsupported digest) and cancelled requests are not failures.
func newStoreErrors(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "moat_store_errors_total",
		Help: "Errors of the metadata and blob stores by store and operation."}, []string{"store", "op"})
	reg.MustRegister(c)
	return c
}

// storeFailure reports whether err is a store failure rather than a normal answer.
func storeFailure(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, meta.ErrNotFound), errors.Is(err, meta.ErrExists), errors.Is(err, meta.ErrConflict),
		errors.Is(err, meta.ErrBlobDeleting), errors.Is(err, meta.ErrReferenceRemoved), errors.Is(err, meta.ErrLocked),
		errors.Is(err, blob.ErrNotFound), errors.Is(err, blob.ErrDigestMismatch), errors.Is(err, blob.ErrUnsupportedDigest),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return true
}

// countingMeta is a metadata store that counts its failures and marks those
// of an unreachable backend as meta.UnavailableError (answered 503).
type countingMeta struct {
	meta.Store
	errs        *prometheus.CounterVec
	unavailable func(error) bool
}

func instrumentMeta(m meta.Store, errs *prometheus.CounterVec) meta.Store {
	cm := &countingMeta{Store: m, errs: errs}
	if c, ok := m.(meta.Classifier); ok {
		cm.unavailable = c.Unavailable
	}
	return cm
}

func (m *countingMeta) count(op string, err error) error {
	if storeFailure(err) {
		m.errs.WithLabelValues("meta", op).Inc()
		if m.unavailable != nil && m.unavailable(err) {
			return &meta.UnavailableError{Err: err}
		}
	}
	return err
}

func (m *countingMeta) CreateRegistry(ctx context.Context, r *meta.Registry) error {
	return m.count("CreateRegistry", m.Store.CreateRegistry(ctx, r))
}

func (m *countingMeta) GetRegistry(ctx context.Context, key string) (*meta.Registry, error) {
	r, err := m.Store.GetRegistry(ctx, key)
	return r, m.count("GetRegistry", err)
}

func (m *countingMeta) UpdateRegistry(ctx context.Context, r *meta.Registry) error {
	return m.count("UpdateRegistry", m.Store.UpdateRegistry(ctx, r))
}

func (m *countingMeta) DeleteRegistry(ctx context.Context, key string) error {
	return m.count("DeleteRegistry", m.Store.DeleteRegistry(ctx, key))
}

func (m *countingMeta) ListRegistries(ctx context.Context) ([]*meta.Registry, error) {
	r, err := m.Store.ListRegistries(ctx)
	return r, m.count("ListRegistries", err)
}

func (m *countingMeta) PutManifest(ctx context.Context, reg, repo string, mf *meta.Manifest, tags ...string) error {
	return m.count("PutManifest", m.Store.PutManifest(ctx, reg, repo, mf, tags...))
}

func (m *countingMeta) GetManifest(ctx context.Context, reg, repo string, d digest.Digest) (*meta.Manifest, error) {
	r, err := m.Store.GetManifest(ctx, reg, repo, d)
	return r, m.count("GetManifest", err)
}

func (m *countingMeta) ResolveTag(ctx context.Context, reg, repo, tag string) (digest.Digest, error) {
	r, err := m.Store.ResolveTag(ctx, reg, repo, tag)
	return r, m.count("ResolveTag", err)
}

func (m *countingMeta) DeleteManifest(ctx context.Context, reg, repo string, d digest.Digest) error {
	return m.count("DeleteManifest", m.Store.DeleteManifest(ctx, reg, repo, d))
}

func (m *countingMeta) DeleteTag(ctx context.Context, reg, repo, tag string) error {
	return m.count("DeleteTag", m.Store.DeleteTag(ctx, reg, repo, tag))
}

func (m *countingMeta) ListTags(ctx context.Context, reg, repo, last string, n int) ([]string, error) {
	r, err := m.Store.ListTags(ctx, reg, repo, last, n)
	return r, m.count("ListTags", err)
}

func (m *countingMeta) ListRepositories(ctx context.Context, reg, last string, n int) ([]string, error) {
	r, err := m.Store.ListRepositories(ctx, reg, last, n)
	return r, m.count("ListRepositories", err)
}

func (m *countingMeta) Referrers(ctx context.Context, reg, repo string, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	r, err := m.Store.Referrers(ctx, reg, repo, d, artifactType)
	return r, m.count("Referrers", err)
}

func (m *countingMeta) RepositoryExists(ctx context.Context, reg, repo string) (bool, error) {
	r, err := m.Store.RepositoryExists(ctx, reg, repo)
	return r, m.count("RepositoryExists", err)
}

func (m *countingMeta) LinkBlob(ctx context.Context, reg, repo string, d digest.Digest, size int64) error {
	return m.count("LinkBlob", m.Store.LinkBlob(ctx, reg, repo, d, size))
}

func (m *countingMeta) BlobSize(ctx context.Context, reg, repo string, d digest.Digest) (int64, error) {
	r, err := m.Store.BlobSize(ctx, reg, repo, d)
	return r, m.count("BlobSize", err)
}

func (m *countingMeta) FindBlob(ctx context.Context, reg string, d digest.Digest) (int64, error) {
	r, err := m.Store.FindBlob(ctx, reg, d)
	return r, m.count("FindBlob", err)
}

func (m *countingMeta) UnlinkBlob(ctx context.Context, reg, repo string, d digest.Digest) error {
	return m.count("UnlinkBlob", m.Store.UnlinkBlob(ctx, reg, repo, d))
}

func (m *countingMeta) CreateUpload(ctx context.Context, u *meta.Upload) error {
	return m.count("CreateUpload", m.Store.CreateUpload(ctx, u))
}

func (m *countingMeta) GetUpload(ctx context.Context, id string) (*meta.Upload, error) {
	r, err := m.Store.GetUpload(ctx, id)
	return r, m.count("GetUpload", err)
}

func (m *countingMeta) DeleteUpload(ctx context.Context, id string) error {
	return m.count("DeleteUpload", m.Store.DeleteUpload(ctx, id))
}

func (m *countingMeta) CountUploads(ctx context.Context, registry string) (int, error) {
	n, err := m.Store.CountUploads(ctx, registry)
	return n, m.count("CountUploads", err)
}

func (m *countingMeta) InitSetting(ctx context.Context, key, value string) (string, error) {
	r, err := m.Store.InitSetting(ctx, key, value)
	return r, m.count("InitSetting", err)
}

func (m *countingMeta) PutResource(ctx context.Context, r *meta.Resource) error {
	return m.count("PutResource", m.Store.PutResource(ctx, r))
}

func (m *countingMeta) GetResource(ctx context.Context, id string) (*meta.Resource, error) {
	r, err := m.Store.GetResource(ctx, id)
	return r, m.count("GetResource", err)
}

func (m *countingMeta) ListResources(ctx context.Context, typ, prefix string) ([]*meta.Resource, error) {
	r, err := m.Store.ListResources(ctx, typ, prefix)
	return r, m.count("ListResources", err)
}

func (m *countingMeta) DeleteResource(ctx context.Context, id string) error {
	return m.count("DeleteResource", m.Store.DeleteResource(ctx, id))
}

// countingBlobs is a blob store that counts its failures.
type countingBlobs struct {
	blob.Store
	errs *prometheus.CounterVec
}

func instrumentBlobs(b blob.Store, errs *prometheus.CounterVec) blob.Store {
	return &countingBlobs{Store: b, errs: errs}
}

func countBlob(errs *prometheus.CounterVec, op string, err error) error {
	if storeFailure(err) {
		errs.WithLabelValues("blob", op).Inc()
	}
	return err
}

func (b *countingBlobs) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	n, err := b.Store.Stat(ctx, d)
	return n, countBlob(b.errs, "Stat", err)
}

func (b *countingBlobs) Open(ctx context.Context, d digest.Digest) (blob.Reader, error) {
	r, err := b.Store.Open(ctx, d)
	return r, countBlob(b.errs, "Open", err)
}

func (b *countingBlobs) Delete(ctx context.Context, d digest.Digest) error {
	return countBlob(b.errs, "Delete", b.Store.Delete(ctx, d))
}

func (b *countingBlobs) NewUpload(ctx context.Context, alg digest.Algorithm) (blob.Upload, error) {
	u, err := b.Store.NewUpload(ctx, alg)
	if err != nil {
		return nil, countBlob(b.errs, "NewUpload", err)
	}
	return &countingUpload{Upload: u, errs: b.errs}, nil
}

func (b *countingBlobs) ResumeUpload(ctx context.Context, id string) (blob.Upload, error) {
	u, err := b.Store.ResumeUpload(ctx, id)
	if err != nil {
		return nil, countBlob(b.errs, "ResumeUpload", err)
	}
	return &countingUpload{Upload: u, errs: b.errs}, nil
}

// countingUpload is an upload that counts its failures.
type countingUpload struct {
	blob.Upload
	errs *prometheus.CounterVec
}

// Append does not count the errors of reading r (a client that went away).
func (u *countingUpload) Append(ctx context.Context, r io.Reader) (int64, error) {
	src := &errReader{r: r}
	n, err := u.Upload.Append(ctx, src)
	if err != nil && (src.err == nil || !errors.Is(err, src.err)) {
		countBlob(u.errs, "Append", err)
	}
	return n, err
}

func (u *countingUpload) Commit(ctx context.Context, d digest.Digest) (int64, error) {
	n, err := u.Upload.Commit(ctx, d)
	return n, countBlob(u.errs, "Commit", err)
}

func (u *countingUpload) Cancel(ctx context.Context) error {
	return countBlob(u.errs, "Cancel", u.Upload.Cancel(ctx))
}

func (u *countingUpload) Close() error {
	return countBlob(u.errs, "Close", u.Upload.Close())
}

// errReader remembers the last error other than io.EOF that r returned.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}
