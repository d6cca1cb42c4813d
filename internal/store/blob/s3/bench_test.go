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

// BenchmarkSmallPush: a blob smaller than a part pushed in one request, its
// bytes appended with Append (kept in a tail object, then put at the blob's
// key) or AppendLast (put at the key once).
func BenchmarkSmallPush(b *testing.B) {
	s := open(b, s3test.Config(b))
	b.Run("Append", func(b *testing.B) { blobtest.BenchSmallPush(b, s, false) })
	b.Run("AppendLast", func(b *testing.B) { blobtest.BenchSmallPush(b, s, true) })
}
