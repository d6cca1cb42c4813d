package fs_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/moat-registry/moat/internal/blob"
	"github.com/moat-registry/moat/internal/blob/blobtest"
	"github.com/moat-registry/moat/internal/blob/fs"
	"github.com/opencontainers/go-digest"
)

func TestSuite(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := fs.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// BenchmarkPush is one 32 MiB upload as a monolithic push does it: append
// the body (hashing, writing, fsync), commit (verify, rename). Four at once,
// as the load generator pushes; with the early writeback and without it
// (interleaved runs: compare them on a shared machine with -count).
func BenchmarkPush(b *testing.B) {
	for _, wb := range []int64{0, 8 << 20} {
		b.Run(fmt.Sprintf("writeback=%dMiB", wb>>20), func(b *testing.B) {
			defer fs.SetWriteback(wb)()
			benchPush(b)
		})
	}
}

func benchPush(b *testing.B) {
	s, err := fs.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
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
		buf := make([]byte, size)
		copy(buf, data)
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
