package blobtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/opencontainers/go-digest"
)

// BenchPush is one 32 MiB upload as a monolithic push does it (append the
// body, commit), four at once as the load generator pushes: the stores'
// BenchmarkPush, so that the filesystem and S3 stores compare in one run.
func BenchPush(b *testing.B, s blob.Store) {
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
			u := Uploaded(b, s, buf)
			if _, err := u.Commit(ctx, digest.FromBytes(buf)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchSmallPush pushes a new 100 kB blob (a config, a small layer) per
// iteration, one at a time, in one request as a monolithic push does: the
// body appended with Append, or with AppendLast when last, then committed.
func BenchSmallPush(b *testing.B, s blob.Store, last bool) {
	const size = 100_000
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < size; i += 8 {
		binary.LittleEndian.PutUint64(data[i:], rng.Uint64())
	}
	b.SetBytes(size)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		binary.LittleEndian.PutUint64(data, uint64(i)) // a new blob each time
		u, err := s.NewUpload(ctx, digest.SHA256)
		if err != nil {
			b.Fatal(err)
		}
		add := u.Append
		if last {
			add = u.AppendLast
		}
		if _, err := add(ctx, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		if _, err := u.Commit(ctx, digest.FromBytes(data)); err != nil {
			b.Fatal(err)
		}
	}
}
