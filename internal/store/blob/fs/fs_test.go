package fs_test

import (
	"fmt"
	"testing"

	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/moat-registry/moat/internal/store/blob/blobtest"
	"github.com/moat-registry/moat/internal/store/blob/fs"
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
	blobtest.BenchPush(b, s)
}
