package bench

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	blobs3 "github.com/moat-registry/moat/internal/store/blob/s3"
	"github.com/moat-registry/moat/internal/store/blob/s3/s3test"
)

// TestS3Direct pushes and pulls (digests verified) straight into the MinIO
// of scripts/test-s3: blobs of several parts with a short last one, blobs of
// exactly two parts, blobs below a part (one PutObject); nothing is left in
// the bucket afterwards.
func TestS3Direct(t *testing.T) {
	s3test.Config(t) // skips (or fails under MOAT_E2E=1) without a bucket
	raw := os.Getenv("MOAT_TEST_S3")
	sc, err := ParseS3URL(raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := blobs3.NewClient(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	const part = 5 << 20
	for name, size := range map[string]int64{"short-last-part": 2*part + 12345, "whole-parts": 2 * part, "one-put": 1 << 20} {
		t.Run(name, func(t *testing.T) {
			prefix := "s3direct-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			cfg := Config{Repository: prefix, Blobs: 3, BlobSize: size, Concurrency: 2, Timeout: time.Minute}
			res, err := RunS3Direct(ctx, cfg, S3Direct{URL: raw, PartSize: part})
			if err != nil {
				t.Fatal(err)
			}
			for dir, tr := range map[string]Transfer{"push": res.Push, "pull": res.Pull} {
				if tr.Blobs != 3 || tr.Bytes != 3*size || tr.MBps <= 0 {
					t.Errorf("%s: %+v", dir, tr)
				}
			}
			out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &sc.Bucket, Prefix: &prefix})
			if err != nil || len(out.Contents) != 0 {
				t.Errorf("left in the bucket: %d objects (%v)", len(out.Contents), err)
			}
		})
	}
	if _, err := ParseS3URL("http://127.0.0.1:9000/bucket"); err == nil {
		t.Error("a URL without credentials was accepted")
	}
}
