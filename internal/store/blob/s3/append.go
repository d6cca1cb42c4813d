package s3

import (
	"bytes"
	"context"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Append streams r into parts of PartSize, prefixed by the tail left by the
// previous request; what is left at the end (less than a part) becomes the new
// tail. Only new bytes are hashed: the tail's are in the saved hash state.
//
// A full part is uploaded, and the session saved after it, while the next
// part is read from the client: two buffers, one part in flight.
func (u *upload) Append(ctx context.Context, r io.Reader) (int64, error) {
	return u.append(ctx, r, false)
}

// AppendLast is Append whose last bytes, when r ends cleanly, are not put in
// a tail object but held for the Commit that follows: that Commit puts them
// at the blob's key or uploads them as the last part, so they are written
// once (and the tail's put, the session's save and its delete are saved).
// Meanwhile the session keeps its last saved state, with the hash state of
// exactly its bytes (u.held), so any save before the commit completes, and
// a commit that fails, leaves an upload that resumes where it was saved.
func (u *upload) AppendLast(ctx context.Context, r io.Reader) (int64, error) {
	return u.append(ctx, r, true)
}

func (u *upload) append(ctx context.Context, r io.Reader, last bool) (n int64, err error) {
	if u.held != nil {
		return 0, errors.New("s3: upload appended to after AppendLast; Commit was expected")
	}
	if err := u.acquire(ctx); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			u.dropLease(ctx)
		}
	}()
	tail, err := u.readTail(ctx)
	if err != nil {
		return 0, err
	}
	buf, spare := u.s.buffer(), u.s.buffer()
	defer func() { u.s.putBuffer(buf); u.s.putBuffer(spare) }()
	// The part in flight outlives a request that ends (the client went
	// away): what arrived is kept, so that the client may resume from Size().
	var inflight background
	defer inflight.wait() // before the buffers go back to the pool
	buf = append(buf, tail...)
	partCtx := context.WithoutCancel(ctx)
	src := io.TeeReader(r, u.h)
	var total int64
	saved := u.st.Hash // the hash state of the parts and tail (acquire saved it)
	for {
		n, rerr := io.ReadFull(src, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		total += int64(n)
		if rerr == nil { // a full part
			hs, err := marshalHash(u.h) // exactly the parts so far and this one
			if err != nil {
				return total, err
			}
			if err := inflight.wait(); err != nil {
				return total, err
			}
			part := buf
			inflight.start(func() error { return u.checkpoint(partCtx, part, hs) })
			saved = hs
			buf, spare = spare[:0], buf
			continue
		}
		if err := inflight.wait(); err != nil {
			return total, errors.Join(rerr, err)
		}
		if errors.Is(rerr, io.ErrUnexpectedEOF) || errors.Is(rerr, io.EOF) {
			rerr = nil
			if last {
				// The whole body is here: hold what follows the parts for
				// Commit, with the lease (Commit takes it over).
				u.held = &heldTail{b: buf, hash: saved}
				buf = nil
				return total, nil
			}
		} else {
			ctx = partCtx
		}
		// End of the body (or the client went away): keep what arrived as the
		// new tail, so the client may resume from Size().
		if len(buf) > 0 && len(buf) != int(u.st.TailSize) {
			name := "tail-" + randomHex(8)
			key := u.s.uploadKey(u.id, name)
			if _, err := u.s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &u.s.bucket, Key: &key, Body: bytes.NewReader(buf)}, UnsignedPayload); err != nil {
				return total, errors.Join(rerr, mapErr(err))
			}
			if u.st.Tail != "" && u.stale == "" {
				u.stale = u.st.Tail
			}
			u.st.Tail, u.st.TailSize = name, int64(len(buf))
		}
		u.st.Size = u.partsSize() + u.st.TailSize
		if err := u.releaseLease(ctx); err != nil {
			return total, errors.Join(rerr, err)
		}
		u.dropStale(ctx)
		if u.st.TailSize > 0 {
			// A commit in the same request (a PUT with a body) takes the
			// tail from here instead of reading it back.
			u.s.putBuffer(u.cached.b)
			u.cached, buf = cachedTail{name: u.st.Tail, b: buf}, nil
		}
		return total, rerr
	}
}

// checkpointEvery is how many bytes of parts may be uploaded before the
// session is saved with them (a node that dies loses at most that much, as
// the filesystem store's segment); the lease is renewed too.
var checkpointEvery int64 = 64 << 20

// checkpoint uploads a full part; every checkpointEvery bytes, or when half
// the lease is gone, it saves the session after it with hs, the hash state of
// exactly the parts: a consistent point to resume from.
func (u *upload) checkpoint(ctx context.Context, part, hs []byte) error {
	if err := u.uploadPart(ctx, part); err != nil {
		return err
	}
	if u.st.Tail != "" {
		u.stale = u.st.Tail // its bytes began this part
	}
	u.st.Tail, u.st.TailSize = "", 0
	u.unsaved += int64(len(part))
	if u.unsaved < checkpointEvery && time.Until(u.st.LeaseUntil) > leaseTTL/2 {
		return nil
	}
	u.st.LeaseUntil = time.Now().Add(leaseTTL)
	if err := u.saveHash(ctx, false, hs); err != nil {
		return err
	}
	u.dropStale(ctx)
	return nil
}

// dropStale deletes a tail object that the session, as saved, no longer names.
func (u *upload) dropStale(ctx context.Context) {
	u.deleteKey(ctx, u.stale)
	u.stale = ""
}

// cachedTail is the tail an Append just wrote, kept for a Commit on the same
// upload value.
type cachedTail struct {
	name string
	b    []byte
}

// heldTail is what AppendLast held for Commit: b, the bytes after the parts
// (a tail left by an earlier request, then this one's), and hash, the hash
// state of the upload as saved (the parts and that earlier tail), which every
// save uses until the commit is done.
type heldTail struct {
	b    []byte
	hash []byte
}

// background is at most one job running beside the request.
type background struct{ done chan error }

func (b *background) start(f func() error) {
	b.done = make(chan error, 1)
	go func() { b.done <- f() }()
}

// wait waits for the job started last, if any, and returns its error.
func (b *background) wait() error {
	if b.done == nil {
		return nil
	}
	err := <-b.done
	b.done = nil
	return err
}

// UnsignedPayload, an option of PutObject and UploadPart, sends an object's
// or part's bytes without hashing them for the request signature
// (x-amz-content-sha256: UNSIGNED-PAYLOAD): that hash
// would be a second SHA-256 of every byte, in moat and again in the S3 server.
// The headers stay signed. Integrity in transit is TLS's on https endpoints;
// on plain http, reads are unprotected either way and every client checks the
// digest of what it pulls.
var UnsignedPayload = s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)

// buffer is an empty part buffer from the store's pool.
func (s *Store) buffer() []byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, s.partSize)
}

func (s *Store) putBuffer(b []byte) {
	if cap(b) == int(s.partSize) {
		s.bufs.Put(&b)
	}
}

func marshalHash(h hash.Hash) ([]byte, error) {
	return h.(encoding.BinaryMarshaler).MarshalBinary()
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
		ContentLength: aws.Int64(int64(len(b))),
	}, UnsignedPayload)
	if err != nil {
		return mapErr(err)
	}
	u.st.Parts = append(u.st.Parts, part{N: n, ETag: aws.ToString(out.ETag), Size: int64(len(b))})
	u.st.Size = u.partsSize()
	return nil
}
