package server

import (
	"context"

	"github.com/moat-registry/moat/internal/meta"
	"github.com/opencontainers/go-digest"
)

// The meta.Properties methods, counted and classified like the others (a
// refusal by a lock is an answer, not a failure).

func (m *countingMeta) RepositoryProperties(ctx context.Context, reg, repo string) (*meta.RepositoryInfo, error) {
	r, err := m.Store.RepositoryProperties(ctx, reg, repo)
	return r, m.count("RepositoryProperties", err)
}

func (m *countingMeta) RepositoryAttributes(ctx context.Context, reg, repo string) (meta.Attributes, error) {
	r, err := m.Store.RepositoryAttributes(ctx, reg, repo)
	return r, m.count("RepositoryAttributes", err)
}

func (m *countingMeta) SetRepositoryAttributes(ctx context.Context, reg, repo string, p meta.AttributesPatch) (*meta.RepositoryInfo, error) {
	r, err := m.Store.SetRepositoryAttributes(ctx, reg, repo, p)
	return r, m.count("SetRepositoryAttributes", err)
}

func (m *countingMeta) DeleteRepository(ctx context.Context, reg, repo string) (*meta.DeletedRepository, error) {
	r, err := m.Store.DeleteRepository(ctx, reg, repo)
	return r, m.count("DeleteRepository", err)
}

func (m *countingMeta) ListedRepositories(ctx context.Context, reg, last string, n int) ([]string, error) {
	r, err := m.Store.ListedRepositories(ctx, reg, last, n)
	return r, m.count("ListedRepositories", err)
}

func (m *countingMeta) TagProperties(ctx context.Context, reg, repo, tag string) (*meta.TagInfo, error) {
	r, err := m.Store.TagProperties(ctx, reg, repo, tag)
	return r, m.count("TagProperties", err)
}

func (m *countingMeta) SetTagAttributes(ctx context.Context, reg, repo, tag string, p meta.AttributesPatch) (*meta.TagInfo, error) {
	r, err := m.Store.SetTagAttributes(ctx, reg, repo, tag, p)
	return r, m.count("SetTagAttributes", err)
}

func (m *countingMeta) ListTagProperties(ctx context.Context, reg, repo string, p meta.Page) ([]*meta.TagInfo, error) {
	r, err := m.Store.ListTagProperties(ctx, reg, repo, p)
	return r, m.count("ListTagProperties", err)
}

func (m *countingMeta) ManifestProperties(ctx context.Context, reg, repo string, d digest.Digest) (*meta.ManifestInfo, error) {
	r, err := m.Store.ManifestProperties(ctx, reg, repo, d)
	return r, m.count("ManifestProperties", err)
}

func (m *countingMeta) SetManifestAttributes(ctx context.Context, reg, repo string, d digest.Digest, p meta.AttributesPatch) (*meta.ManifestInfo, error) {
	r, err := m.Store.SetManifestAttributes(ctx, reg, repo, d, p)
	return r, m.count("SetManifestAttributes", err)
}

func (m *countingMeta) ListManifestProperties(ctx context.Context, reg, repo string, p meta.Page) ([]*meta.ManifestInfo, error) {
	r, err := m.Store.ListManifestProperties(ctx, reg, repo, p)
	return r, m.count("ListManifestProperties", err)
}
