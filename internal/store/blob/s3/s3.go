// Package s3 is a blob.Store on an S3-compatible object store (AWS S3, MinIO,
// Ceph RGW), so that several moat nodes share one set of blobs.
//
// Layout under the bucket's key prefix:
//
//	blobs/<alg>/<hex[:2]>/<hex>   committed blobs: the bytes, or a pointer to data/<id> (pointer.go)
//	data/<id>                     a blob uploaded in parts, completed where its parts were uploaded
//	uploads/<id>/state            an upload's session: size, hash state, parts, lease
//	uploads/<id>/tail-<nonce>     bytes received but not yet a multipart part (< PartSize)
//
// Every byte is hashed once, as it arrives, and stored once: the hash state is
// saved in the session object, so any node can continue an upload another node
// started, and the parts are uploaded to the multipart upload of data/<id>,
// which Commit completes in place once the digest is verified. A blob appears
// under its key only then: small uploads are put there from the tail, larger
// ones get a pointer to their data object.
package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/opencontainers/go-digest"
)

// Config says where the store lives.
type Config struct {
	// Endpoint is the S3 API URL (e.g. http://minio:9000); empty means AWS S3.
	Endpoint string
	// Region is the bucket's region (default us-east-1, which MinIO and Ceph accept).
	Region string
	Bucket string
	// Prefix is prepended to every key, so one bucket can hold several stores.
	Prefix string
	// PathStyle addresses the bucket in the path (http://host/bucket/key), as
	// MinIO and Ceph RGW usually need; AWS S3 uses virtual-host style.
	PathStyle bool
	// AccessKey and SecretKey are static credentials; when empty the AWS
	// default chain (AWS_* env, shared config, instance role) is used.
	AccessKey, SecretKey string
	// PartSize is the multipart part size (default 8 MiB, at least 5 MiB, S3's minimum).
	PartSize int64
}

const (
	minPart = 5 << 20
	// DefaultPartSize is the multipart part size when Config has none.
	DefaultPartSize = 8 << 20
)

// Store is a blob.Store on one bucket.
type Store struct {
	c        *s3.Client
	bucket   string
	prefix   string
	partSize int64
	where    string           // the endpoint, for messages
	node     string           // lease holder name of this Store instance
	locks    blob.UploadLocks // serialises this node's requests on an upload
	bufs     sync.Pool        // *[]byte of partSize capacity (append.go)
}

// New connects to the bucket and checks that it is reachable.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: a bucket is required")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < minPart {
		return nil, fmt.Errorf("s3: part size %d is below S3's minimum of %d bytes", cfg.PartSize, minPart)
	}
	c, err := NewClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	s := &Store{c: c, bucket: cfg.Bucket, prefix: prefix, partSize: cfg.PartSize, node: randomHex(8), where: orAWS(cfg.Endpoint)}
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	if err := s.checkConditionalWrites(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// NewClient is the S3 client the store uses for cfg (region, endpoint,
// credentials, timeouts, checksums); exported so that the benchmark's direct
// baseline (tools/bench) talks to the server exactly as the store does.
func NewClient(ctx context.Context, cfg Config) (*s3.Client, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	// An endpoint that accepts connections but stops answering must fail a
	// request, not hang it: bounded connect and response-header waits (a
	// body streams for as long as it needs).
	httpc := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 5 * time.Second }).
		WithTransportOptions(func(t *http.Transport) { t.ResponseHeaderTimeout = time.Minute })
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.Region), awsconfig.WithHTTPClient(httpc)}
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	return s3.NewFromConfig(ac, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Checksums only where the API requires them: Ceph RGW and older
		// MinIO releases reject the SDK's default trailing checksums.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}

// checkConditionalWrites refuses a server that ignores If-None-Match or
// If-Match on PutObject: the upload lease rests on them, and without them two
// nodes could interleave one upload's parts.
func (s *Store) checkConditionalWrites(ctx context.Context) error {
	key := s.prefix + "probe/" + randomHex(16)
	defer s.c.DeleteObject(context.WithoutCancel(ctx), &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	put := func(in *s3.PutObjectInput) error {
		in.Bucket, in.Key, in.Body = &s.bucket, &key, strings.NewReader("moat: conditional write probe")
		_, err := s.c.PutObject(ctx, in)
		return err
	}
	if err := put(&s3.PutObjectInput{IfNoneMatch: aws.String("*")}); err != nil {
		return fmt.Errorf("s3: writing a probe object to bucket %q: %w", s.bucket, err)
	}
	for name, in := range map[string]*s3.PutObjectInput{
		"If-None-Match": {IfNoneMatch: aws.String("*")},
		"If-Match":      {IfMatch: aws.String(`"00000000000000000000000000000000"`)},
	} {
		if err := put(in); !isPrecondition(err) {
			return fmt.Errorf("s3: the server at %s does not honour %s on PutObject (got %v); moat needs conditional writes "+
				"to keep an upload consistent across nodes: use a release that has them (AWS S3, recent MinIO or Ceph RGW)", s.where, name, err)
		}
	}
	return nil
}

// Ping checks that the bucket is reachable with the credentials (readiness).
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return fmt.Errorf("s3: bucket %q at %s: %w", s.bucket, s.where, err)
	}
	return nil
}

func orAWS(endpoint string) string {
	if endpoint == "" {
		return "AWS S3"
	}
	return endpoint
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Store) blobKey(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", blob.ErrNotFound
	}
	h := d.Encoded()
	return s.prefix + path.Join("blobs", d.Algorithm().String(), h[:2], h), nil
}

// dataKey is where the bytes of upload id are completed when it has parts.
func (s *Store) dataKey(id string) string { return s.prefix + "data/" + id }

func (s *Store) uploadKey(id, name string) string {
	return s.prefix + "uploads/" + id + "/" + name
}

// mapErr turns S3 errors into the blob package's: a missing key is
// ErrNotFound, anything else from the backend is ErrUnavailable (the client
// may retry), a cancelled request stays as it is.
func mapErr(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	if isNotFound(err) {
		return blob.ErrNotFound
	}
	return fmt.Errorf("%w: s3: %w", blob.ErrUnavailable, err)
}

func isNotFound(err error) bool {
	var nk *types.NoSuchKey
	var nf *types.NotFound
	var nu *types.NoSuchUpload
	if errors.As(err, &nk) || errors.As(err, &nf) || errors.As(err, &nu) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

func isNoSuchUpload(err error) bool {
	var nu *types.NoSuchUpload
	var ae smithy.APIError
	return errors.As(err, &nu) || (errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload")
}

// isPrecondition reports a failed If-Match / If-None-Match (412), or AWS's
// 409 for a conditional write racing another.
func isPrecondition(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict")
}

func (s *Store) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	key, err := s.blobKey(d)
	if err != nil {
		return 0, err
	}
	o, err := s.head(ctx, key)
	return o.size, err
}

func (s *Store) Open(ctx context.Context, d digest.Digest) (blob.Reader, error) {
	key, err := s.blobKey(d)
	if err != nil {
		return nil, err
	}
	o, err := s.head(ctx, key)
	if err != nil {
		return nil, err
	}
	r := &reader{s: s, ctx: ctx, key: o.readKey(key), size: o.size}
	if o.data == "" {
		r.etag = o.etag // the bytes at a blob key may be replaced by a pointer (publish)
	}
	return r, nil
}

// Delete removes a blob: a pointer's data object first, then the pointer, so
// that a failure in between leaves a pointer that the next attempt (garbage
// collection keeps its tombstone until Delete succeeds) follows again.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	key, err := s.blobKey(d)
	if err != nil {
		return err
	}
	o, err := s.head(ctx, key) // DeleteObject succeeds on a missing key; GC wants to know
	if err != nil {
		return err
	}
	if o.data != "" {
		if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &o.data}); err != nil {
			return mapErr(err)
		}
	}
	_, err = s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	return mapErr(err)
}

// Walk lists blobs/; keys that are not well-formed blob names are skipped,
// since GC must never act on them. A pointer's listed size is its body's (the
// data key's length): objects of that size are asked for their metadata.
func (s *Store) Walk(ctx context.Context, fn func(blob.Info) error) error {
	base := s.prefix + "blobs/"
	id := randomHex(16)
	pointerSizes := map[int64]bool{int64(len(s.dataKey(id))): true, int64(len(s.uploadKey(id, "data"))): true}
	return s.list(ctx, base, func(o types.Object) error {
		parts := strings.Split(strings.TrimPrefix(aws.ToString(o.Key), base), "/")
		if len(parts) != 3 {
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		if d.Validate() != nil || !strings.HasPrefix(parts[2], parts[1]) {
			return nil
		}
		size := aws.ToInt64(o.Size)
		if pointerSizes[size] {
			h, err := s.head(ctx, aws.ToString(o.Key))
			if errors.Is(err, blob.ErrNotFound) {
				return nil // deleted while listing
			}
			if err != nil {
				return err
			}
			size = h.size
		}
		return fn(blob.Info{Digest: d, Size: size, Committed: aws.ToTime(o.LastModified)})
	})
}

// WalkUploads lists uploads/<id>/state; its time is when the session was last
// written, which every append does.
func (s *Store) WalkUploads(ctx context.Context, fn func(blob.UploadInfo) error) error {
	base := s.prefix + "uploads/"
	return s.list(ctx, base, func(o types.Object) error {
		id, name, ok := strings.Cut(strings.TrimPrefix(aws.ToString(o.Key), base), "/")
		if !ok || name != "state" || !validID(id) {
			return nil
		}
		return fn(blob.UploadInfo{ID: id, Updated: aws.ToTime(o.LastModified)})
	})
}

func (s *Store) list(ctx context.Context, prefix string, fn func(types.Object) error) error {
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return mapErr(err)
		}
		for _, o := range page.Contents {
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}
