package oci

import (
	"context"

	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

// MetaStore is what the distribution API needs of the metadata store: a
// repository's manifests and tags, its blob links and upload sessions, and
// of its properties the locks and which repositories are listed.
type MetaStore interface {
	meta.Manifests
	meta.BlobLinks
	meta.Uploads
	RepositoryAttributes(ctx context.Context, reg, repo string) (meta.Attributes, error)
	ListedRepositories(ctx context.Context, reg, last string, n int) ([]string, error)
}

// BlobStore is what the distribution API needs of the blob store (deleting
// bytes is garbage collection's).
type BlobStore interface {
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	Open(ctx context.Context, d digest.Digest) (blob.Reader, error)
	NewUpload(ctx context.Context, alg digest.Algorithm) (blob.Upload, error)
	ResumeUpload(ctx context.Context, id string) (blob.Upload, error)
}
