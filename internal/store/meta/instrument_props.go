package meta

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// The Properties methods of the instrumented store (instrument.go).

func (m *instrumented) RepositoryProperties(ctx context.Context, reg, repo string) (*RepositoryInfo, error) {
	r, err := m.s.RepositoryProperties(ctx, reg, repo)
	return r, m.c.Check("RepositoryProperties", err)
}

func (m *instrumented) RepositoryAttributes(ctx context.Context, reg, repo string) (Attributes, error) {
	r, err := m.s.RepositoryAttributes(ctx, reg, repo)
	return r, m.c.Check("RepositoryAttributes", err)
}

func (m *instrumented) SetRepositoryAttributes(ctx context.Context, reg, repo string, p AttributesPatch) (*RepositoryInfo, error) {
	r, err := m.s.SetRepositoryAttributes(ctx, reg, repo, p)
	return r, m.c.Check("SetRepositoryAttributes", err)
}

func (m *instrumented) DeleteRepository(ctx context.Context, reg, repo string) (*DeletedRepository, error) {
	r, err := m.s.DeleteRepository(ctx, reg, repo)
	return r, m.c.Check("DeleteRepository", err)
}

func (m *instrumented) ListedRepositories(ctx context.Context, reg, last string, n int) ([]string, error) {
	r, err := m.s.ListedRepositories(ctx, reg, last, n)
	return r, m.c.Check("ListedRepositories", err)
}

func (m *instrumented) TagProperties(ctx context.Context, reg, repo, tag string) (*TagInfo, error) {
	r, err := m.s.TagProperties(ctx, reg, repo, tag)
	return r, m.c.Check("TagProperties", err)
}

func (m *instrumented) SetTagAttributes(ctx context.Context, reg, repo, tag string, p AttributesPatch) (*TagInfo, error) {
	r, err := m.s.SetTagAttributes(ctx, reg, repo, tag, p)
	return r, m.c.Check("SetTagAttributes", err)
}

func (m *instrumented) ListTagProperties(ctx context.Context, reg, repo string, p Page) ([]*TagInfo, error) {
	r, err := m.s.ListTagProperties(ctx, reg, repo, p)
	return r, m.c.Check("ListTagProperties", err)
}

func (m *instrumented) ManifestProperties(ctx context.Context, reg, repo string, d digest.Digest) (*ManifestInfo, error) {
	r, err := m.s.ManifestProperties(ctx, reg, repo, d)
	return r, m.c.Check("ManifestProperties", err)
}

func (m *instrumented) SetManifestAttributes(ctx context.Context, reg, repo string, d digest.Digest, p AttributesPatch) (*ManifestInfo, error) {
	r, err := m.s.SetManifestAttributes(ctx, reg, repo, d, p)
	return r, m.c.Check("SetManifestAttributes", err)
}

func (m *instrumented) ListManifestProperties(ctx context.Context, reg, repo string, p Page) ([]*ManifestInfo, error) {
	r, err := m.s.ListManifestProperties(ctx, reg, repo, p)
	return r, m.c.Check("ListManifestProperties", err)
}
