package s3_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/moat-registry/moat/internal/blob/s3/s3test"
	"github.com/opencontainers/go-digest"
)

// BenchmarkPush is one 32 MiB upload as a monolithic push does it (append
// the body, commit), four at once as the load generator pushes, against the
// bucket of MOAT_TEST_S3 (a MinIO on the same host in scripts/test-s3).
// Compare with the filesystem store's BenchmarkPush in the same run.
func BenchmarkPush(b *testing.B) {
	s := open(b, s3test.Config(b))
	const size = 32 << 20
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < size; i += 8 {
		binary.LittleEndian.PutUint64(data[i:], rng.Uint64())
	}
	b.SetBytes(size)
	b.SetParallelism(2) // 2 x GOMAXPROCS(2) = 4 uploads in flight
	var seq atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		buf := bytes.Clone(data)
		for pb.Next() {
			binary.LittleEndian.PutUint64(buf, uint64(seq.Add(1))) // a new blob each time
			ctx := context.Background()
			u, err := s.NewUpload(ctx, digest.SHA256)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := u.Append(ctx, bytes.NewReader(buf)); err != nil {
				b.Fatal(err)
			}
			if _, err := u.Commit(ctx, digest.FromBytes(buf)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
