package s3

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/opencontainers/go-digest"
)

const (
	// leaseTTL bounds how long a node that died mid-request blocks the upload;
	// a live holder renews the lease with every part it uploads.
	leaseTTL = 2 * time.Minute
	// leaseWait is how long a request waits for another node's request on the
	// same upload before giving up with ErrUnavailable.
	leaseWait = 30 * time.Second
)

// session is the state object of an upload: what survives between requests
// and between nodes. Size = sum of Parts + TailSize.
type session struct {
	Alg  digest.Algorithm `json:"alg"`
	Size int64            `json:"size"`
	Hash []byte           `json:"hash"`
	MPU  string           `json:"mpu,omitempty"` // multipart upload ID, from the first full part on
	// Data is the key the multipart upload completes at (data/<id>; sessions
	// of earlier releases have none and use uploads/<id>/data).
	Data  string `json:"data,omitempty"`
	Parts []part `json:"parts,omitempty"`
	// Digest is the blob a commit is completing the multipart upload for,
	// saved before it does: after a crash, whoever removes the session looks
	// at that blob's key to know whether the data object is in use.
	Digest   digest.Digest `json:"digest,omitempty"`
	Tail     string        `json:"tail,omitempty"` // tail object name, new for each write
	TailSize int64         `json:"tailSize,omitempty"`
	// Lease: which node is writing, until when. Taken and renewed with
	// conditional writes (If-Match on the state's ETag), so two requests on
	// the same upload from different nodes never interleave their parts.
	Lease      string    `json:"lease,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitzero"`
}

type part struct {
	N    int32  `json:"n"`
	ETag string `json:"etag"`
	Size int64  `json:"size"`
}

type upload struct {
	s    *Store
	id   string
	st   session
	etag string // of the state object as last read or written
	h    hash.Hash
	mu   *sync.Mutex

	unsaved int64      // bytes of parts uploaded since the session was last saved
	stale   string     // a tail object to delete once the session is saved without it
	cached  cachedTail // the tail this value's last Append wrote
	held    *heldTail  // what AppendLast held for Commit
	// completed: this value completed the multipart upload (nothing to abort).
	completed bool
}

func (s *Store) NewUpload(ctx context.Context, alg digest.Algorithm) (blob.Upload, error) {
	alg, err := blob.UploadAlgorithm(alg)
	if err != nil {
		return nil, err
	}
	u := &upload{s: s, id: randomHex(16), st: session{Alg: alg}, h: alg.Hash()}
	if err := u.save(ctx, true); err != nil {
		return nil, err
	}
	u.mu = s.locks.Lock(u.id)
	return u, nil
}

func (s *Store) ResumeUpload(ctx context.Context, id string) (blob.Upload, error) {
	if !validID(id) {
		return nil, blob.ErrNotFound
	}
	mu := s.locks.Lock(id)
	u := &upload{s: s, id: id, mu: mu}
	if err := u.load(ctx); err != nil {
		u.release()
		return nil, err
	}
	return u, nil
}

// load reads the session and restores the hash state from it.
func (u *upload) load(ctx context.Context) error {
	key := u.s.uploadKey(u.id, "state")
	out, err := u.s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &u.s.bucket, Key: &key})
	if err != nil {
		return mapErr(err)
	}
	defer out.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(out.Body, 4<<20))
	if err != nil {
		return mapErr(err)
	}
	var st session
	if err := json.Unmarshal(raw, &st); err != nil || !st.Alg.Available() {
		return fmt.Errorf("upload %s: corrupt state", u.id)
	}
	h := st.Alg.Hash()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.Hash); err != nil {
		return fmt.Errorf("upload %s: corrupt hash state: %w", u.id, err)
	}
	u.st, u.h, u.etag = st, h, aws.ToString(out.ETag)
	u.dropHeld() // bytes held for a commit followed the session replaced here
	return nil
}

// save writes the session: a new one only if none exists, otherwise only
// over the version this upload last saw. errLost: someone else wrote it.
func (u *upload) save(ctx context.Context, create bool) error {
	if u.held != nil {
		return u.saveHash(ctx, create, u.held.hash) // u.h has hashed the held bytes too
	}
	hs, err := marshalHash(u.h)
	if err != nil {
		return err
	}
	return u.saveHash(ctx, create, hs)
}

// saveHash is save with the hash state hs (a checkpoint taken before u.h
// moved on).
func (u *upload) saveHash(ctx context.Context, create bool, hs []byte) error {
	u.st.Hash = hs
	raw, _ := json.Marshal(u.st)
	key := u.s.uploadKey(u.id, "state")
	in := &s3.PutObjectInput{Bucket: &u.s.bucket, Key: &key, Body: bytes.NewReader(raw), ContentType: aws.String("application/json")}
	if create {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(u.etag)
	}
	out, err := u.s.c.PutObject(ctx, in)
	if isPrecondition(err) {
		return errLost
	}
	if err != nil {
		return mapErr(err)
	}
	u.etag = aws.ToString(out.ETag)
	u.unsaved = 0
	return nil
}

var errLost = fmt.Errorf("%w: upload session changed by another request", blob.ErrUnavailable)

// acquire takes (or renews) this node's lease on the upload, waiting up to
// leaseWait for another node's live lease to end. The session is re-read
// while waiting, so the caller continues from the other request's bytes.
func (u *upload) acquire(ctx context.Context) error { return u.acquireWith(ctx, nil) }

// acquireWith is acquire that also applies change to the session it saves
// with the lease (one write for both).
func (u *upload) acquireWith(ctx context.Context, change func(*session)) error {
	deadline := time.Now().Add(leaseWait)
	for {
		now := time.Now()
		if u.st.Lease == "" || u.st.Lease == u.s.node || now.After(u.st.LeaseUntil) {
			u.st.Lease, u.st.LeaseUntil = u.s.node, now.Add(leaseTTL)
			if change != nil {
				change(&u.st)
			}
			err := u.save(ctx, false)
			if !errors.Is(err, errLost) || u.held != nil {
				return err // held bytes follow the session as it was: no reloading under them
			}
		} else if now.After(deadline) {
			return fmt.Errorf("%w: upload %s is being written by another node", blob.ErrUnavailable, u.id)
		} else {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		if err := u.load(ctx); err != nil {
			return err
		}
	}
}

// dropLease gives the lease up after a failed request: the session as last
// saved (the failed request's unsaved bytes are not in it) without the lease,
// so another node need not wait for it to expire. Best effort.
func (u *upload) dropLease(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if u.load(ctx) == nil && u.st.Lease == u.s.node {
		_ = u.releaseLease(ctx)
	}
}

// releaseLease saves the session without the lease (best effort: an
// unreleased lease expires after leaseTTL).
func (u *upload) releaseLease(ctx context.Context) error {
	u.st.Lease, u.st.LeaseUntil = "", time.Time{}
	return u.save(ctx, false)
}

func (u *upload) ID() string   { return u.id }
func (u *upload) Size() int64  { return u.st.Size }
func (u *upload) Close() error { u.release(); return nil }

func (u *upload) release() {
	u.s.putBuffer(u.cached.b)
	u.cached = cachedTail{}
	u.dropHeld()
	if u.mu != nil {
		u.mu.Unlock()
		u.mu = nil
	}
}

func (u *upload) dropHeld() {
	if u.held != nil {
		u.s.putBuffer(u.held.b)
		u.held = nil
	}
}

func (u *upload) readTail(ctx context.Context) ([]byte, error) {
	if u.held != nil {
		return u.held.b, nil
	}
	if u.st.TailSize == 0 {
		return nil, nil
	}
	if u.cached.name == u.st.Tail {
		return u.cached.b, nil // tail names are never reused: the same bytes
	}
	key := u.s.uploadKey(u.id, u.st.Tail)
	out, err := u.s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &u.s.bucket, Key: &key})
	if err != nil {
		return nil, mapErr(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, mapErr(err)
	}
	if int64(len(b)) != u.st.TailSize {
		return nil, fmt.Errorf("upload %s: tail has %d bytes, session says %d", u.id, len(b), u.st.TailSize)
	}
	return b, nil
}

func (u *upload) deleteKey(ctx context.Context, name string) {
	if name == "" {
		return
	}
	key := u.s.uploadKey(u.id, name)
	_, _ = u.s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &u.s.bucket, Key: &key})
}
