package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	blobs3 "github.com/moat-registry/moat/internal/store/blob/s3"
)

// S3Direct is the baseline of moat on S3: the same blobs pushed and pulled
// straight to and from the bucket, with no registry in between, by the S3
// client moat's store builds (same SDK settings, part size, UNSIGNED-PAYLOAD
// parts, one part uploading while the next is read). Its figures are the
// most moat on that S3 server could reach on this host.
type S3Direct struct {
	// URL is http://ACCESS_KEY:SECRET_KEY@HOST:PORT/BUCKET (path-style), as
	// scripts/test-s3's MOAT_TEST_S3.
	URL      string
	PartSize int64 // bytes per part (0: moat's default)
}

// ParseS3URL turns an S3Direct URL into the store's configuration.
func ParseS3URL(raw string) (blobs3.Config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || (u.Scheme != "http" && u.Scheme != "https") || strings.Trim(u.Path, "/") == "" {
		return blobs3.Config{}, fmt.Errorf("--s3: want http://ACCESS_KEY:SECRET_KEY@HOST:PORT/BUCKET")
	}
	secret, _ := u.User.Password()
	return blobs3.Config{Endpoint: u.Scheme + "://" + u.Host, Bucket: strings.Trim(u.Path, "/"), PathStyle: true,
		AccessKey: u.User.Username(), SecretKey: secret}, nil
}

// RunS3Direct pushes cfg's blobs (count, size, concurrency) into the bucket
// under cfg.Repository/, pulls them back verifying their digests, and
// deletes them; only the push and pull are timed.
func RunS3Direct(ctx context.Context, cfg Config, d S3Direct) (*Result, error) {
	cfg.Defaults()
	sc, err := ParseS3URL(d.URL)
	if err != nil {
		return nil, err
	}
	if d.PartSize <= 0 {
		d.PartSize = blobs3.DefaultPartSize
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	c, err := blobs3.NewClient(ctx, sc)
	if err != nil {
		return nil, err
	}
	p := &s3Pusher{c: c, bucket: sc.Bucket, part: d.PartSize}
	res := &Result{Registry: sc.Endpoint, Repository: sc.Bucket + "/" + cfg.Repository, Started: time.Now().UTC(),
		Settings: Settings{Blobs: cfg.Blobs, BlobBytes: cfg.BlobSize, Concurrency: cfg.Concurrency}}
	blobs := make([]blob, cfg.Blobs)
	keys := make([]string, cfg.Blobs)
	for i := range blobs {
		seed := cfg.Seed + uint64(i)
		blobs[i] = blob{seed: seed, size: cfg.BlobSize, digest: blobDigest(seed, cfg.BlobSize)}
		keys[i] = strings.Trim(cfg.Repository, "/") + "/" + strconv.FormatUint(seed, 16)
	}
	defer p.deleteAll(context.WithoutCancel(ctx), keys)

	start := time.Now()
	if err := forEach(ctx, len(blobs), cfg.Concurrency, func(ctx context.Context, i int) error {
		return p.push(ctx, keys[i], newBlob(blobs[i].seed, blobs[i].size), blobs[i].size)
	}); err != nil {
		return nil, fmt.Errorf("S3 push: %w", err)
	}
	res.Push = transfer(len(blobs), cfg.BlobSize*int64(len(blobs)), time.Since(start))

	start = time.Now()
	if err := forEach(ctx, len(blobs), cfg.Concurrency, func(ctx context.Context, i int) error {
		return p.pull(ctx, keys[i], blobs[i].digest)
	}); err != nil {
		return nil, fmt.Errorf("S3 pull: %w", err)
	}
	res.Pull = transfer(len(blobs), cfg.BlobSize*int64(len(blobs)), time.Since(start))
	res.Seconds = round(time.Since(res.Started).Seconds())
	return res, nil
}

type s3Pusher struct {
	c      *s3.Client
	bucket string
	part   int64
}

// push writes one object as moat's store does: a single PutObject below one
// part, else a multipart upload whose next part is read while the last one
// uploads.
func (p *s3Pusher) push(ctx context.Context, key string, r io.Reader, size int64) error {
	if size < p.part {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		_, err = p.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &p.bucket, Key: &key, Body: bytes.NewReader(b)}, blobs3.UnsignedPayload)
		return err
	}
	out, err := p.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &p.bucket, Key: &key})
	if err != nil {
		return err
	}
	var parts []types.CompletedPart
	var inflight chan error
	wait := func() error {
		if inflight == nil {
			return nil
		}
		err := <-inflight
		inflight = nil
		return err
	}
	buf, spare := make([]byte, p.part), make([]byte, p.part)
	for n := int32(1); ; n++ {
		k, rerr := io.ReadFull(r, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return rerr
		}
		if err := wait(); err != nil {
			return err
		}
		if k == 0 {
			break
		}
		part, num := buf[:k], n
		inflight = make(chan error, 1)
		go func() {
			o, err := p.c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &p.bucket, Key: &key, UploadId: out.UploadId,
				PartNumber: &num, Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part)))}, blobs3.UnsignedPayload)
			if err == nil {
				parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: o.ETag})
			}
			inflight <- err
		}()
		buf, spare = spare, buf
		if rerr != nil { // the last, short part
			break
		}
	}
	if err := wait(); err != nil {
		return err
	}
	_, err = p.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &p.bucket, Key: &key,
		UploadId: out.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return err
}

func (p *s3Pusher) pull(ctx context.Context, key, digest string) error {
	out, err := p.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &p.bucket, Key: &key})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, out.Body, make([]byte, 256<<10)); err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		return fmt.Errorf("%s: got %s, want %s", key, got, digest)
	}
	return nil
}

func (p *s3Pusher) deleteAll(ctx context.Context, keys []string) {
	for _, k := range keys {
		_, _ = p.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &p.bucket, Key: &k})
	}
}
