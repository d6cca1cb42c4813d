// Package blob defines the content-addressed blob store. Blobs are global to the
// server and deduplicated; which registry and repository may see a blob is
// decided by the metadata store's links, never by the blob store.
package blob

import (
	"context"
	_ "crypto/sha256" // registers the digest algorithms moat verifies
	_ "crypto/sha512"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/moat-registry/moat/internal/store"
	"github.com/opencontainers/go-digest"
)

var (
	// ErrNotFound: no committed blob (or upload) by that name.
	ErrNotFound = errors.New("blob: not found")
	// ErrDigestMismatch: the uploaded bytes do not hash to the digest asked for.
	ErrDigestMismatch = errors.New("blob: digest does not match content")
	// ErrUnsupportedDigest: the digest algorithm is not sha256 or sha512.
	ErrUnsupportedDigest = errors.New("blob: unsupported digest algorithm")
	// ErrUnavailable is store.ErrUnavailable: the storage backend (e.g. S3)
	// failed or could not be reached; the request may be retried. Clients
	// see 503 with Retry-After, not 500.
	ErrUnavailable = store.ErrUnavailable
)

// Store holds committed blobs and in-progress uploads.
type Store interface {
	// Stat returns the size of a committed blob.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open returns a reader of a committed blob; it may be seeked for ranges.
	Open(ctx context.Context, d digest.Digest) (Reader, error)
	// Delete removes a committed blob (garbage collection only: links decide visibility).
	Delete(ctx context.Context, d digest.Digest) error
	// NewUpload starts an upload; alg is the expected digest algorithm, hashed as bytes stream in.
	NewUpload(ctx context.Context, alg digest.Algorithm) (Upload, error)
	// ResumeUpload reopens an upload by ID, e.g. for the next chunk.
	ResumeUpload(ctx context.Context, id string) (Upload, error)
	// Walk calls fn for every committed blob. Garbage collection uses it; an
	// error from fn stops the walk and is returned.
	Walk(ctx context.Context, fn func(Info) error) error
	// WalkUploads calls fn for every in-progress upload (expiry uses it).
	WalkUploads(ctx context.Context, fn func(UploadInfo) error) error
}

// Info describes a committed blob.
type Info struct {
	Digest digest.Digest
	Size   int64
	// Committed is when the blob was last committed: committing the same
	// content again refreshes it, so a grace window measured from it protects
	// a blob that was just pushed again but is not linked yet.
	Committed time.Time
}

// UploadInfo describes an in-progress upload.
type UploadInfo struct {
	ID string
	// Updated is when bytes were last appended (or the upload started).
	Updated time.Time
}

// Reader is a committed blob being read.
type Reader interface {
	io.ReadSeekCloser
	Size() int64
}

// Upload is an in-progress blob upload. Its bytes are invisible until Commit.
// An Upload value is used by one request at a time; the store serialises
// concurrent users of the same upload ID.
type Upload interface {
	ID() string
	// Size is the number of bytes received so far.
	Size() int64
	// Append adds r's bytes at the end, hashing them as they stream.
	Append(ctx context.Context, r io.Reader) (int64, error)
	// AppendLast is Append when Commit follows in the same request (a PUT
	// with a body, a monolithic POST): bytes a store would keep for a later
	// request may be held for that Commit instead, so that they are written
	// once. Once r has been read to its end, the next call is Commit; until
	// a Commit succeeds, the upload as ResumeUpload finds it may lack them.
	AppendLast(ctx context.Context, r io.Reader) (int64, error)
	// Commit verifies the content against d and makes it visible as blob d,
	// durably, in one atomic step. The upload is gone after a successful Commit.
	Commit(ctx context.Context, d digest.Digest) (int64, error)
	// Cancel discards the upload.
	Cancel(ctx context.Context) error
	// Close releases the upload without committing it (it can be resumed).
	Close() error
}

// UploadAlgorithm is the digest algorithm a new upload hashes with: alg, or
// sha256 when none is named; ErrUnsupportedDigest for anything else.
func UploadAlgorithm(alg digest.Algorithm) (digest.Algorithm, error) {
	switch alg {
	case "":
		return digest.SHA256, nil
	case digest.SHA256, digest.SHA512:
		return alg, nil
	}
	return "", ErrUnsupportedDigest
}

// CommitDigest checks the digest a commit names: ErrDigestMismatch when it
// is malformed (no content can match it), ErrUnsupportedDigest for an
// algorithm other than sha256 and sha512.
func CommitDigest(d digest.Digest) error {
	if d.Validate() != nil {
		return ErrDigestMismatch
	}
	if alg := d.Algorithm(); alg != digest.SHA256 && alg != digest.SHA512 {
		return ErrUnsupportedDigest
	}
	return nil
}

// UploadLocks serialises one process's requests on the same upload ID (a
// store may add its own guard across processes).
type UploadLocks struct{ m sync.Map } // upload ID -> *sync.Mutex

// Lock locks id's mutex and returns it for Unlock.
func (l *UploadLocks) Lock(id string) *sync.Mutex {
	m, _ := l.m.LoadOrStore(id, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu
}

// Forget drops id's mutex once the upload is gone.
func (l *UploadLocks) Forget(id string) { l.m.Delete(id) }
