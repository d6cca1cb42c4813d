package s3_test

import (
	"testing"

	"github.com/moat-registry/moat/internal/store/blob/blobtest"
	"github.com/moat-registry/moat/internal/store/blob/s3/s3test"
)

// BenchmarkPush: four 32 MiB uploads at once against the bucket of
// MOAT_TEST_S3 (a MinIO on the same host in scripts/test-s3). Compare with the
// filesystem store's BenchmarkPush in the same run.
func BenchmarkPush(b *testing.B) { blobtest.BenchPush(b, open(b, s3test.Config(b))) }
