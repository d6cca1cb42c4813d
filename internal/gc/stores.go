package gc

import (
	"context"

	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

// MetaStore is what garbage collection needs of the metadata store: its GC
// guarantees (meta.GC), the registries and repositories to visit, and
// removing expired upload sessions.
type MetaStore interface {
	meta.GC
	GetRegistry(ctx context.Context, key string) (*meta.Registry, error)
	ListRegistries(ctx context.Context) ([]*meta.Registry, error)
	ListRepositories(ctx context.Context, reg, last string, n int) ([]string, error)
	DeleteUpload(ctx context.Context, id string) error
}

// BlobStore is what garbage collection needs of the blob store: every blob
// and upload, and deleting them.
type BlobStore interface {
	Delete(ctx context.Context, d digest.Digest) error
	ResumeUpload(ctx context.Context, id string) (blob.Upload, error)
	Walk(ctx context.Context, fn func(blob.Info) error) error
	WalkUploads(ctx context.Context, fn func(blob.UploadInfo) error) error
}
