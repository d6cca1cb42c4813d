package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/moat-registry/moat/internal/store/blob"
)

// A blob uploaded in parts is not copied to its key: its multipart upload is
// completed in place, at data/<upload id>, and the blob's key gets a pointer
// object naming it. S3 has no rename, and the digest (the blob's key) is only
// known once the last byte is in, so the key cannot be the upload's own.
//
// A pointer's body is the data key (so that two pointers to different data
// objects never share an ETag, which the conditional writes below compare);
// its metadata repeats the key and gives the blob's size, so one HEAD of the
// blob's key finds both. An object at a blob's key without that metadata is the
// blob's bytes themselves (small blobs, and every blob of earlier releases).
const (
	metaData = "moat-data"
	metaSize = "moat-size"
)

// object is what a blob key holds, as a HEAD finds it.
type object struct {
	etag string
	data string // the data object's key for a pointer; "" when the key holds the bytes
	size int64  // the blob's size
}

// head reads what is at a blob's key.
func (s *Store) head(ctx context.Context, key string) (object, error) {
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return object{}, mapErr(err)
	}
	o := object{etag: aws.ToString(out.ETag), size: aws.ToInt64(out.ContentLength)}
	if data, ok := out.Metadata[metaData]; ok {
		n, err := strconv.ParseInt(out.Metadata[metaSize], 10, 64)
		if err != nil || n < 0 || !strings.HasPrefix(data, s.prefix) {
			return object{}, fmt.Errorf("%w: s3: %s is a pointer with bad metadata", blob.ErrUnavailable, key)
		}
		o.data, o.size = data, n
	}
	return o, nil
}

// readKey is where a blob's bytes are read from.
func (o object) readKey(blobKey string) string {
	if o.data != "" {
		return o.data
	}
	return blobKey
}

// condition is a conditional write: create only (If-None-Match: *) or
// replace only the version with this ETag (If-Match).
type condition struct {
	create bool
	etag   string
}

// content is what a commit puts at a blob's key: a pointer to a completed
// data object, or the bytes themselves (a blob smaller than a part).
type content struct {
	data  string // pointer target; "" for bytes
	size  int64
	bytes []byte
}

func (s *Store) put(ctx context.Context, key string, c content, cond condition) error {
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key}
	if c.data != "" {
		in.Body = strings.NewReader(c.data)
		in.Metadata = map[string]string{metaData: c.data, metaSize: strconv.FormatInt(c.size, 10)}
	} else {
		in.Body = bytes.NewReader(c.bytes)
	}
	if cond.create {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(cond.etag)
	}
	_, err := s.c.PutObject(ctx, in)
	return err
}

// publish makes a blob's key hold c, once its digest is verified. When the
// key already holds the blob (pushed before, or by a concurrent request), its
// commit time is refreshed (garbage collection's grace window counts from it)
// and an existing data object is kept: readers may be streaming it. Every
// write is conditional on what was read, so concurrent commits of the same
// blob and garbage collection never leave a pointer to a deleted object.
// used reports whether c's data object is the one the key names afterwards.
func (s *Store) publish(ctx context.Context, key string, c content) (used bool, err error) {
	for range 5 {
		err := s.put(ctx, key, c, condition{create: true})
		if err == nil {
			return true, nil
		}
		if !isPrecondition(err) {
			return false, mapErr(err)
		}
		cur, err := s.head(ctx, key)
		if errors.Is(err, blob.ErrNotFound) {
			continue // deleted meanwhile: create again
		}
		if err != nil {
			return false, err
		}
		if cur.data != "" {
			// A pointer (ours, when a commit is retried): the same again.
			err = s.put(ctx, key, content{data: cur.data, size: cur.size}, condition{etag: cur.etag})
			used = cur.data == c.data
		} else {
			// The bytes themselves: ours replace them (same content).
			err = s.put(ctx, key, c, condition{etag: cur.etag})
			used = true
		}
		if err == nil {
			return used, nil
		}
		if !isPrecondition(err) {
			return false, mapErr(err)
		}
	}
	return false, fmt.Errorf("%w: s3: %s keeps changing under concurrent commits", blob.ErrUnavailable, key)
}
