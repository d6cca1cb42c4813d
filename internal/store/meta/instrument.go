package meta

import (
	"context"

	"github.com/moat-registry/moat/internal/store"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// answers are the metadata store's sentinel errors: answers, not failures.
var answers = []error{ErrNotFound, ErrExists, ErrConflict, ErrBlobDeleting, ErrReferenceRemoved, ErrLocked}

// Instrument returns s with every method instrumented: its failures counted
// in errs by method, and those of an unreachable backend (s's
// store.Classifier) marked store.ErrUnavailable, so that clients are told to
// retry. Every store gets it (the server wraps whichever it opened).
//
// The wrapper declares each method of Store itself and embeds nothing: a
// method added to Store does not compile until it is instrumented here.
func Instrument(s Store, errs *store.Errors) Store {
	return &instrumented{s: s, c: errs.Checker("meta", s, answers...)}
}

type instrumented struct {
	s Store
	c *store.Checker
}

var _ Store = (*instrumented)(nil)

func (m *instrumented) Close() error { return m.c.Check("Close", m.s.Close()) }

func (m *instrumented) CreateRegistry(ctx context.Context, r *Registry) error {
	return m.c.Check("CreateRegistry", m.s.CreateRegistry(ctx, r))
}

func (m *instrumented) GetRegistry(ctx context.Context, key string) (*Registry, error) {
	r, err := m.s.GetRegistry(ctx, key)
	return r, m.c.Check("GetRegistry", err)
}

func (m *instrumented) UpdateRegistry(ctx context.Context, r *Registry) error {
	return m.c.Check("UpdateRegistry", m.s.UpdateRegistry(ctx, r))
}

func (m *instrumented) DeleteRegistry(ctx context.Context, key string) error {
	return m.c.Check("DeleteRegistry", m.s.DeleteRegistry(ctx, key))
}

func (m *instrumented) ListRegistries(ctx context.Context) ([]*Registry, error) {
	r, err := m.s.ListRegistries(ctx)
	return r, m.c.Check("ListRegistries", err)
}

func (m *instrumented) PutManifest(ctx context.Context, reg, repo string, mf *Manifest, tags ...string) error {
	return m.c.Check("PutManifest", m.s.PutManifest(ctx, reg, repo, mf, tags...))
}

func (m *instrumented) GetManifest(ctx context.Context, reg, repo string, d digest.Digest) (*Manifest, error) {
	r, err := m.s.GetManifest(ctx, reg, repo, d)
	return r, m.c.Check("GetManifest", err)
}

func (m *instrumented) ResolveTag(ctx context.Context, reg, repo, tag string) (digest.Digest, error) {
	r, err := m.s.ResolveTag(ctx, reg, repo, tag)
	return r, m.c.Check("ResolveTag", err)
}

func (m *instrumented) DeleteManifest(ctx context.Context, reg, repo string, d digest.Digest) error {
	return m.c.Check("DeleteManifest", m.s.DeleteManifest(ctx, reg, repo, d))
}

func (m *instrumented) DeleteTag(ctx context.Context, reg, repo, tag string) error {
	return m.c.Check("DeleteTag", m.s.DeleteTag(ctx, reg, repo, tag))
}

func (m *instrumented) ListTags(ctx context.Context, reg, repo, last string, n int) ([]string, error) {
	r, err := m.s.ListTags(ctx, reg, repo, last, n)
	return r, m.c.Check("ListTags", err)
}

func (m *instrumented) ListRepositories(ctx context.Context, reg, last string, n int) ([]string, error) {
	r, err := m.s.ListRepositories(ctx, reg, last, n)
	return r, m.c.Check("ListRepositories", err)
}

func (m *instrumented) Referrers(ctx context.Context, reg, repo string, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	r, err := m.s.Referrers(ctx, reg, repo, d, artifactType)
	return r, m.c.Check("Referrers", err)
}

func (m *instrumented) RepositoryExists(ctx context.Context, reg, repo string) (bool, error) {
	r, err := m.s.RepositoryExists(ctx, reg, repo)
	return r, m.c.Check("RepositoryExists", err)
}

func (m *instrumented) LinkBlob(ctx context.Context, reg, repo string, d digest.Digest, size int64) error {
	return m.c.Check("LinkBlob", m.s.LinkBlob(ctx, reg, repo, d, size))
}

func (m *instrumented) BlobSize(ctx context.Context, reg, repo string, d digest.Digest) (int64, error) {
	r, err := m.s.BlobSize(ctx, reg, repo, d)
	return r, m.c.Check("BlobSize", err)
}

func (m *instrumented) FindBlob(ctx context.Context, reg string, d digest.Digest) (int64, error) {
	r, err := m.s.FindBlob(ctx, reg, d)
	return r, m.c.Check("FindBlob", err)
}

func (m *instrumented) UnlinkBlob(ctx context.Context, reg, repo string, d digest.Digest) error {
	return m.c.Check("UnlinkBlob", m.s.UnlinkBlob(ctx, reg, repo, d))
}

func (m *instrumented) CreateUpload(ctx context.Context, u *Upload) error {
	return m.c.Check("CreateUpload", m.s.CreateUpload(ctx, u))
}

func (m *instrumented) GetUpload(ctx context.Context, id string) (*Upload, error) {
	r, err := m.s.GetUpload(ctx, id)
	return r, m.c.Check("GetUpload", err)
}

func (m *instrumented) DeleteUpload(ctx context.Context, id string) error {
	return m.c.Check("DeleteUpload", m.s.DeleteUpload(ctx, id))
}

func (m *instrumented) CountUploads(ctx context.Context, registry string) (int, error) {
	n, err := m.s.CountUploads(ctx, registry)
	return n, m.c.Check("CountUploads", err)
}

func (m *instrumented) InitSetting(ctx context.Context, key, value string) (string, error) {
	r, err := m.s.InitSetting(ctx, key, value)
	return r, m.c.Check("InitSetting", err)
}

func (m *instrumented) PutResource(ctx context.Context, r *Resource) error {
	return m.c.Check("PutResource", m.s.PutResource(ctx, r))
}

func (m *instrumented) GetResource(ctx context.Context, id string) (*Resource, error) {
	r, err := m.s.GetResource(ctx, id)
	return r, m.c.Check("GetResource", err)
}

func (m *instrumented) ListResources(ctx context.Context, typ, prefix string) ([]*Resource, error) {
	r, err := m.s.ListResources(ctx, typ, prefix)
	return r, m.c.Check("ListResources", err)
}

func (m *instrumented) DeleteResource(ctx context.Context, id string) error {
	return m.c.Check("DeleteResource", m.s.DeleteResource(ctx, id))
}
