package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/opencontainers/go-digest"
)

// CheckConditionalWrites: a session write over a version that another request
// has replaced must be refused (If-Match), as must creating a session that
// exists (If-None-Match). The lease rests on both.
func CheckConditionalWrites(ctx context.Context, s *Store) error {
	nu, err := s.NewUpload(ctx, digest.SHA256)
	if err != nil {
		return err
	}
	a := nu.(*upload)
	a.release()
	b := &upload{s: s, id: a.id}
	if err := b.load(ctx); err != nil {
		return err
	}
	b.st.Lease = "another node" // a different body, so a different ETag
	if err := b.save(ctx, false); err != nil {
		return fmt.Errorf("write over the current version: %w", err)
	}
	if err := a.save(ctx, false); !errors.Is(err, errLost) {
		return fmt.Errorf("write over a replaced version: %v, want errLost", err)
	}
	if err := b.save(ctx, true); !errors.Is(err, errLost) {
		return fmt.Errorf("create over an existing session: %v, want errLost", err)
	}
	return nil
}

// Objects lists every key under the store's prefix (without it) with its size.
func Objects(ctx context.Context, s *Store) (map[string]int64, error) {
	out := map[string]int64{}
	err := s.list(ctx, s.prefix, func(o types.Object) error {
		out[strings.TrimPrefix(aws.ToString(o.Key), s.prefix)] = aws.ToInt64(o.Size)
		return nil
	})
	return out, err
}

// CommitThenCrash runs a commit of u up to a step and stops there as a node
// that dies would: "completed" (the multipart upload completed at its data
// key, no pointer yet) or "published" (the pointer written, the session not
// yet removed).
func CommitThenCrash(ctx context.Context, bu blob.Upload, d digest.Digest, step string) error {
	u := bu.(*upload)
	defer u.release()
	if err := u.acquire(ctx); err != nil {
		return err
	}
	tail, err := u.readTail(ctx)
	if err != nil {
		return err
	}
	if err := u.complete(ctx, tail, d); err != nil || step == "completed" {
		return err
	}
	dst, _ := u.s.blobKey(d)
	_, err = u.s.publish(ctx, dst, content{data: u.dataKey(), size: u.st.Size})
	return err
}

// PutRaw puts data at a blob's key as the bytes themselves, as releases
// before pointers did for every blob.
func PutRaw(ctx context.Context, s *Store, data []byte) error {
	key, _ := s.blobKey(digest.FromBytes(data))
	_, err := s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(data)})
	return err
}

// NewLegacyUpload starts an upload as releases before data/<id> did: its
// multipart upload is at uploads/<id>/data and the session does not say so.
func NewLegacyUpload(ctx context.Context, s *Store) (string, error) {
	bu, err := s.NewUpload(ctx, digest.SHA256)
	if err != nil {
		return "", err
	}
	u := bu.(*upload)
	defer u.release()
	key := s.uploadKey(u.id, "data")
	out, err := s.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return "", err
	}
	u.st.MPU = aws.ToString(out.UploadId)
	return u.id, u.save(ctx, false)
}

// SetCheckpointEvery sets how many bytes of parts go between session saves
// and returns a function that restores it.
func SetCheckpointEvery(n int64) (restore func()) {
	old := checkpointEvery
	checkpointEvery = n
	return func() { checkpointEvery = old }
}

// Saved reads upload id's session as another node would and returns its size
// and the digest of its saved hash state (the bytes it says it has).
func Saved(ctx context.Context, s *Store, id string) (int64, digest.Digest, error) {
	u := &upload{s: s, id: id}
	if err := u.load(ctx); err != nil {
		return 0, "", err
	}
	return u.st.Size, digest.NewDigest(u.st.Alg, u.h), nil
}

// CountRequests makes s count its S3 requests by operation name; the
// function returned reads the counts so far and resets them.
func CountRequests(s *Store) func() map[string]int {
	var mu sync.Mutex
	n := map[string]int{}
	s.c = s3.New(s.c.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("count", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				mu.Lock()
				n[middleware.GetOperationName(ctx)]++
				mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
		})
	})
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := n
		n = map[string]int{}
		return out
	}
}

// AgeLease makes bu's lease look half gone, as after a slow request body.
func AgeLease(bu blob.Upload) {
	u := bu.(*upload)
	u.st.LeaseUntil = time.Now().Add(leaseTTL / 4)
}
