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
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/moat-registry/moat/internal/blob"
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
	return nil
}

// save writes the session: a new one only if none exists, otherwise only
// over the version this upload last saw. errLost: someone else wrote it.
func (u *upload) save(ctx context.Context, create bool) error {
	hs, err := u.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
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
	return nil
}

var errLost = fmt.Errorf("%w: upload session changed by another request", blob.ErrUnavailable)

// acquire takes (or renews) this node's lease on the upload, waiting up to
// leaseWait for another node's live lease to end. The session is re-read
// while waiting, so the caller continues from the other request's bytes.
func (u *upload) acquire(ctx context.Context) error {
	deadline := time.Now().Add(leaseWait)
	for {
		now := time.Now()
		if u.st.Lease == "" || u.st.Lease == u.s.node || now.After(u.st.LeaseUntil) {
			u.st.Lease, u.st.LeaseUntil = u.s.node, now.Add(leaseTTL)
			err := u.save(ctx, false)
			if !errors.Is(err, errLost) {
				return err
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
	if u.mu != nil {
		u.mu.Unlock()
		u.mu = nil
	}
}

func (u *upload) readTail(ctx context.Context) ([]byte, error) {
	if u.st.TailSize == 0 {
		return nil, nil
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

// Append streams r into parts of PartSize, prefixed by the tail left by the
// previous request; what is left at the end (less than a part) becomes the new
// tail. Only new bytes are hashed: the tail's are in the saved hash state.
func (u *upload) Append(ctx context.Context, r io.Reader) (n int64, err error) {
	if err := u.acquire(ctx); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			u.dropLease(ctx)
		}
	}()
	buf, err := u.readTail(ctx)
	if err != nil {
		return 0, err
	}
	oldTail := u.st.Tail
	if cap(buf) < int(u.s.partSize) {
		buf = append(make([]byte, 0, u.s.partSize), buf...)
	}
	src := io.TeeReader(r, u.h)
	var total int64
	for {
		n, rerr := io.ReadFull(src, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		total += int64(n)
		if rerr == nil { // a full part
			if err := u.uploadPart(ctx, buf); err != nil {
				return total, err
			}
			// The hash now covers exactly the parts: a consistent checkpoint
			// that also renews the lease.
			u.st.Tail, u.st.TailSize = "", 0
			u.st.LeaseUntil = time.Now().Add(leaseTTL)
			if err := u.save(ctx, false); err != nil {
				return total, err
			}
			u.deleteKey(ctx, oldTail)
			oldTail = ""
			buf = buf[:0]
			continue
		}
		if errors.Is(rerr, io.ErrUnexpectedEOF) || errors.Is(rerr, io.EOF) {
			rerr = nil
		} else {
			// The client went away: its request is cancelled, but what
			// arrived is kept so that it can resume from Size().
			ctx = context.WithoutCancel(ctx)
		}
		// End of the body (or the client went away): keep what arrived as the
		// new tail, so the client may resume from Size().
		if len(buf) > 0 && len(buf) != int(u.st.TailSize) {
			name := "tail-" + randomHex(8)
			key := u.s.uploadKey(u.id, name)
			if _, err := u.s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &u.s.bucket, Key: &key, Body: bytes.NewReader(buf)}); err != nil {
				return total, errors.Join(rerr, mapErr(err))
			}
			u.st.Tail, u.st.TailSize = name, int64(len(buf))
		}
		u.st.Size = u.partsSize() + u.st.TailSize
		if err := u.releaseLease(ctx); err != nil {
			return total, errors.Join(rerr, err)
		}
		if oldTail != u.st.Tail {
			u.deleteKey(ctx, oldTail)
		}
		return total, rerr
	}
}

func (u *upload) partsSize() int64 {
	var n int64
	for _, p := range u.st.Parts {
		n += p.Size
	}
	return n
}

// dataKey is where this upload's multipart upload completes.
func (u *upload) dataKey() string {
	if u.st.Data == "" {
		return u.s.uploadKey(u.id, "data") // a session of an earlier release
	}
	return u.st.Data
}

func (u *upload) uploadPart(ctx context.Context, b []byte) error {
	if u.st.MPU == "" {
		u.st.Data = u.s.dataKey(u.id)
		out, err := u.s.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &u.s.bucket, Key: &u.st.Data})
		if err != nil {
			return mapErr(err)
		}
		u.st.MPU = aws.ToString(out.UploadId)
	}
	data := u.dataKey()
	n := int32(len(u.st.Parts) + 1)
	if n > 10000 {
		return fmt.Errorf("upload %s: more than 10000 parts of %d bytes", u.id, u.s.partSize)
	}
	out, err := u.s.c.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &u.s.bucket, Key: &data, UploadId: &u.st.MPU, PartNumber: &n, Body: bytes.NewReader(b),
	})
	if err != nil {
		return mapErr(err)
	}
	u.st.Parts = append(u.st.Parts, part{N: n, ETag: aws.ToString(out.ETag), Size: int64(len(b))})
	u.st.Size = u.partsSize()
	return nil
}

// Commit verifies the digest and only then makes the bytes visible under the
// blob's key: a small upload's tail is put there; a larger one's multipart
// upload is completed where it is and the key gets a pointer to it
// (pointer.go), so every byte is written once.
func (u *upload) Commit(ctx context.Context, d digest.Digest) (_ int64, err error) {
	defer u.release()
	if err := d.Validate(); err != nil {
		return 0, blob.ErrDigestMismatch
	}
	alg := d.Algorithm()
	if alg != digest.SHA256 && alg != digest.SHA512 {
		return 0, blob.ErrUnsupportedDigest
	}
	if err := u.acquire(ctx); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil && !errors.Is(err, blob.ErrDigestMismatch) {
			u.dropLease(ctx)
		}
	}()
	if alg == u.st.Alg && digest.NewDigest(alg, u.h) != d {
		return 0, errors.Join(blob.ErrDigestMismatch, u.releaseLease(ctx))
	}
	if done, err := u.dataInUse(ctx); err != nil || done {
		// A commit published the blob and stopped before removing the
		// session: this one finishes it (or, for another digest, the
		// upload is gone as after any commit).
		if err == nil && u.st.Digest != d {
			err = blob.ErrNotFound
		}
		if err == nil {
			u.remove(ctx, true)
		}
		return u.st.Size, err
	}
	dst, _ := u.s.blobKey(d)
	tail, err := u.readTail(ctx)
	if err != nil {
		return 0, err
	}
	if u.st.MPU == "" {
		// Everything is in the tail: put it straight to the final key.
		if alg != u.st.Alg && alg.FromBytes(tail) != d {
			return 0, errors.Join(blob.ErrDigestMismatch, u.releaseLease(ctx))
		}
		if _, err := u.s.publish(ctx, dst, content{bytes: tail, size: int64(len(tail))}); err != nil {
			return 0, err
		}
		u.remove(ctx, false)
		return u.st.Size, nil
	}
	if err := u.complete(ctx, tail, d); err != nil {
		return 0, err
	}
	used, err := u.s.publish(ctx, dst, content{data: u.dataKey(), size: u.st.Size})
	if err != nil {
		return 0, err
	}
	u.remove(ctx, used)
	return u.st.Size, nil
}

// complete uploads the tail as the last part, saves the session with the
// digest being committed, and completes the multipart upload at its data key.
// A commit retried after the completion (the answer was lost, or the node
// died before publishing) finds the multipart upload gone and the data object
// there.
func (u *upload) complete(ctx context.Context, tail []byte, d digest.Digest) error {
	oldTail := u.st.Tail
	if len(tail) > 0 {
		if err := u.uploadPart(ctx, tail); err != nil {
			return err
		}
		u.st.Tail, u.st.TailSize = "", 0
	}
	if len(tail) > 0 || u.st.Digest != d {
		u.st.Digest = d
		if err := u.save(ctx, false); err != nil {
			return err
		}
		u.deleteKey(ctx, oldTail)
	}
	data := u.dataKey()
	parts := make([]types.CompletedPart, len(u.st.Parts))
	for i, p := range u.st.Parts {
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(p.N), ETag: aws.String(p.ETag)}
	}
	_, err := u.s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &u.s.bucket, Key: &data, UploadId: &u.st.MPU,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if isNoSuchUpload(err) {
		out, herr := u.s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &u.s.bucket, Key: &data})
		if herr == nil && aws.ToInt64(out.ContentLength) == u.st.Size {
			err = nil // completed by an earlier attempt
		}
	}
	if err != nil {
		return mapErr(err)
	}
	if d.Algorithm() != u.st.Alg {
		// Another algorithm than the upload was started with: hash again.
		got, err := u.s.hashObject(ctx, data, d.Algorithm())
		if err != nil {
			return err
		}
		if got != d {
			u.remove(ctx, false) // the multipart upload is spent: the client starts over
			return blob.ErrDigestMismatch
		}
	}
	return nil
}

func (s *Store) hashObject(ctx context.Context, key string, alg digest.Algorithm) (digest.Digest, error) {
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return "", mapErr(err)
	}
	defer out.Body.Close()
	d, err := alg.FromReader(out.Body)
	return d, mapErr(err)
}

// remove deletes everything of the upload but a data object that a blob's
// key points to (inUse); the session goes last, so an interrupted removal is
// still listed by WalkUploads and expired later.
func (u *upload) remove(ctx context.Context, inUse bool) {
	ctx = context.WithoutCancel(ctx)
	if u.st.MPU != "" {
		data := u.dataKey()
		_, _ = u.s.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &u.s.bucket, Key: &data, UploadId: &u.st.MPU})
		if !inUse {
			_, _ = u.s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &u.s.bucket, Key: &data})
		}
	}
	u.deleteKey(ctx, u.st.Tail)
	u.deleteKey(ctx, "state")
	u.s.locks.Forget(u.id)
}

// dataInUse reports whether a blob's key points to this upload's data object:
// a commit that published it and stopped before removing the session.
func (u *upload) dataInUse(ctx context.Context) (bool, error) {
	if u.st.Digest == "" {
		return false, nil // never completed
	}
	key, err := u.s.blobKey(u.st.Digest)
	if err != nil {
		return false, nil
	}
	o, err := u.s.head(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return false, nil
	}
	return o.data == u.dataKey(), err
}

func (u *upload) Cancel(ctx context.Context) error {
	defer u.release()
	if err := u.acquire(ctx); err != nil {
		return err
	}
	inUse, err := u.dataInUse(ctx)
	if err != nil {
		return err
	}
	u.remove(ctx, inUse)
	return nil
}
