package sqlprops

import (
	"context"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

// Store is meta.Properties on a SQL store; the stores embed it.
type Store struct {
	Dialect Dialect
	// Read runs reads (outside any transaction).
	Read Querier
	// Tx runs fn in a write transaction.
	Tx func(ctx context.Context, fn func(Querier) error) error
}

func (s Store) RepositoryProperties(ctx context.Context, reg, repo string) (*meta.RepositoryInfo, error) {
	return RepositoryProperties(ctx, s.Read, reg, repo)
}

func (s Store) RepositoryAttributes(ctx context.Context, reg, repo string) (meta.Attributes, error) {
	return RepositoryAttributes(ctx, s.Read, reg, repo)
}

func (s Store) ListedRepositories(ctx context.Context, reg, last string, n int) ([]string, error) {
	return ListedRepositories(ctx, s.Read, reg, last, n)
}

func (s Store) TagProperties(ctx context.Context, reg, repo, tag string) (*meta.TagInfo, error) {
	return TagProperties(ctx, s.Read, reg, repo, tag)
}

func (s Store) ListTagProperties(ctx context.Context, reg, repo string, p meta.Page) ([]*meta.TagInfo, error) {
	return ListTagProperties(ctx, s.Read, reg, repo, p)
}

func (s Store) ManifestProperties(ctx context.Context, reg, repo string, d digest.Digest) (*meta.ManifestInfo, error) {
	return ManifestProperties(ctx, s.Read, reg, repo, d)
}

func (s Store) ListManifestProperties(ctx context.Context, reg, repo string, p meta.Page) ([]*meta.ManifestInfo, error) {
	return ListManifestProperties(ctx, s.Read, reg, repo, p)
}

func (s Store) DeleteRepository(ctx context.Context, reg, repo string) (out *meta.DeletedRepository, err error) {
	err = s.Tx(ctx, func(q Querier) error {
		out, err = DeleteRepository(ctx, q, s.Dialect, reg, repo)
		return err
	})
	return out, err
}

// The attribute changes answer with what they wrote, read in their transaction.

func (s Store) SetRepositoryAttributes(ctx context.Context, reg, repo string, p meta.AttributesPatch) (out *meta.RepositoryInfo, err error) {
	err = s.Tx(ctx, func(q Querier) error {
		if err := SetRepositoryAttributes(ctx, q, reg, repo, p, time.Now()); err != nil {
			return err
		}
		out, err = RepositoryProperties(ctx, q, reg, repo)
		return err
	})
	return out, err
}

func (s Store) SetTagAttributes(ctx context.Context, reg, repo, tag string, p meta.AttributesPatch) (out *meta.TagInfo, err error) {
	err = s.Tx(ctx, func(q Querier) error {
		if err := SetTagAttributes(ctx, q, s.Dialect, reg, repo, tag, p, time.Now()); err != nil {
			return err
		}
		out, err = TagProperties(ctx, q, reg, repo, tag)
		return err
	})
	return out, err
}

func (s Store) SetManifestAttributes(ctx context.Context, reg, repo string, d digest.Digest, p meta.AttributesPatch) (out *meta.ManifestInfo, err error) {
	err = s.Tx(ctx, func(q Querier) error {
		if err := SetManifestAttributes(ctx, q, s.Dialect, reg, repo, d, p, time.Now()); err != nil {
			return err
		}
		out, err = ManifestProperties(ctx, q, reg, repo, d)
		return err
	})
	return out, err
}
