package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// The GC methods of the instrumented store (instrument.go).

func (m *instrumented) RepositoryContent(ctx context.Context, reg, repo string) (*RepositoryContent, error) {
	r, err := m.s.RepositoryContent(ctx, reg, repo)
	return r, m.c.Check("RepositoryContent", err)
}

func (m *instrumented) SweepRepository(ctx context.Context, reg, repo string, gen int64, manifests, links []digest.Digest, linkCutoff time.Time) (Swept, error) {
	r, err := m.s.SweepRepository(ctx, reg, repo, gen, manifests, links, linkCutoff)
	return r, m.c.Check("SweepRepository", err)
}

func (m *instrumented) BlobLinked(ctx context.Context, d digest.Digest) (bool, error) {
	r, err := m.s.BlobLinked(ctx, d)
	return r, m.c.Check("BlobLinked", err)
}

func (m *instrumented) TombstoneBlob(ctx context.Context, d digest.Digest) (bool, error) {
	r, err := m.s.TombstoneBlob(ctx, d)
	return r, m.c.Check("TombstoneBlob", err)
}

func (m *instrumented) ClearTombstone(ctx context.Context, d digest.Digest) error {
	return m.c.Check("ClearTombstone", m.s.ClearTombstone(ctx, d))
}

func (m *instrumented) Tombstones(ctx context.Context) ([]digest.Digest, error) {
	r, err := m.s.Tombstones(ctx)
	return r, m.c.Check("Tombstones", err)
}

func (m *instrumented) ForgetRemoved(ctx context.Context, t time.Time) error {
	return m.c.Check("ForgetRemoved", m.s.ForgetRemoved(ctx, t))
}

func (m *instrumented) ListUploads(ctx context.Context, before time.Time) ([]*Upload, error) {
	r, err := m.s.ListUploads(ctx, before)
	return r, m.c.Check("ListUploads", err)
}

func (m *instrumented) LockGC(ctx context.Context, wait bool) (unlock func(), ok bool, err error) {
	unlock, ok, err = m.s.LockGC(ctx, wait)
	return unlock, ok, m.c.Check("LockGC", err)
}
