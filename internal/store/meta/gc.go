package meta

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
)

var (
	// ErrBlobDeleting: LinkBlob refused because garbage collection is deleting
	// the blob's bytes right now (a tombstone exists). The client must upload
	// the blob again; the OCI API answers BLOB_UNKNOWN.
	ErrBlobDeleting = errors.New("meta: blob is being deleted by garbage collection")
	// ErrReferenceRemoved: PutManifest refused because garbage collection
	// removed a manifest or blob link the manifest references from the
	// repository after the client checked it exists; the client must push it
	// again. The error message names the digest.
	ErrReferenceRemoved = errors.New("meta: a referenced manifest or blob was removed by garbage collection")
)

// GC is what garbage collection and upload expiry need from the store. The
// safety argument (docs/gc.md) rests on three guarantees it gives:
//
//   - SweepRepository deletes only if no manifest was pushed to the
//     repository since RepositoryContent read it (the generation), and
//     PutManifest refuses a manifest that references something a sweep removed
//     (Manifest.Refs), so a kept manifest never loses a reference;
//   - TombstoneBlob and LinkBlob exclude each other per digest: a tombstone is
//     set only when no link exists, and no link is made while it exists;
//   - on PostgreSQL each pair conflicts by row or advisory locks, not by luck.
type GC interface {
	// RepositoryContent reads one repository for the mark phase.
	RepositoryContent(ctx context.Context, reg, repo string) (*RepositoryContent, error)
	// SweepRepository deletes the manifests (with their tags) and removes the
	// links named, a link only if it was last made before linkCutoff. It does
	// nothing and returns ErrConflict if the repository's generation is no
	// longer gen, and nothing if the repository is locked (writeEnabled
	// false); a manifest locked since the mark is kept. What it removes is
	// remembered (see ErrReferenceRemoved).
	SweepRepository(ctx context.Context, reg, repo string, gen int64, manifests, links []digest.Digest, linkCutoff time.Time) (Swept, error)
	// BlobLinked reports whether any repository of any registry links d.
	BlobLinked(ctx context.Context, d digest.Digest) (bool, error)
	// TombstoneBlob records that d's bytes are about to be deleted, in a
	// transaction that checks that no link to d exists; false if one does.
	TombstoneBlob(ctx context.Context, d digest.Digest) (bool, error)
	// ClearTombstone removes d's tombstone once its bytes are gone.
	ClearTombstone(ctx context.Context, d digest.Digest) error
	// Tombstones lists the tombstones left (by a collector that stopped
	// between deleting and clearing).
	Tombstones(ctx context.Context) ([]digest.Digest, error)
	// ForgetRemoved drops the memory of removals made before t.
	ForgetRemoved(ctx context.Context, t time.Time) error
	// ListUploads lists upload sessions created before t.
	ListUploads(ctx context.Context, before time.Time) ([]*Upload, error)
	// LockGC makes the caller the only collector among all nodes sharing the
	// store until unlock is called. With wait false it returns ok false at once
	// if another collector runs.
	LockGC(ctx context.Context, wait bool) (unlock func(), ok bool, err error)
}

// RepositoryContent is a repository as the mark phase sees it.
type RepositoryContent struct {
	// Gen changes whenever a manifest is pushed to the repository.
	Gen int64
	// Locked: the repository takes no writes (writeEnabled false), so
	// nothing in it may be collected.
	Locked    bool
	Manifests []*StoredManifest
	// Tagged holds the digests that at least one tag points at.
	Tagged map[digest.Digest]bool
	Links  []Link
}

// StoredManifest is a manifest with the time it was last pushed.
type StoredManifest struct {
	Manifest
	Pushed time.Time
	// Locked: the manifest refuses deletes (deleteEnabled or writeEnabled false).
	Locked bool
}

// Link is a blob link with the time it was last made.
type Link struct {
	Digest digest.Digest
	Size   int64
	Linked time.Time
}

// Swept counts what SweepRepository removed.
type Swept struct {
	Manifests int
	Links     int
}

// SweepSQL are the statements of a sweep in a SQL store's dialect. Their
// arguments: DeleteManifest and DeleteTags (reg, repo, digest), DeleteLink
// (reg, repo, digest, cutoff ns), Remember (reg, repo, digest, now ns).
type SweepSQL struct {
	DeleteManifest, DeleteTags, DeleteLink, Remember string
}

// Sweep is the body of SweepRepository shared by the SQL stores, after the
// generation check; exec runs one statement in the store's transaction and
// returns the rows it affected.
func Sweep(exec func(q string, args ...any) (int64, error), q SweepSQL, reg, repo string, manifests, links []digest.Digest, linkCutoff time.Time) (Swept, error) {
	var sw Swept
	now := time.Now().UnixNano()
	step := func(d digest.Digest, del string, delArgs []any, also string) (bool, error) {
		n, err := exec(del, delArgs...)
		if err != nil || n == 0 {
			return false, err
		}
		if also != "" {
			if _, err := exec(also, reg, repo, d.String()); err != nil {
				return false, err
			}
		}
		_, err = exec(q.Remember, reg, repo, d.String(), now)
		return err == nil, err
	}
	for _, d := range manifests {
		ok, err := step(d, q.DeleteManifest, []any{reg, repo, d.String()}, q.DeleteTags)
		if err != nil {
			return sw, err
		}
		if ok {
			sw.Manifests++
		}
	}
	for _, d := range links {
		ok, err := step(d, q.DeleteLink, []any{reg, repo, d.String(), linkCutoff.UnixNano()}, "")
		if err != nil {
			return sw, err
		}
		if ok {
			sw.Links++
		}
	}
	return sw, nil
}
