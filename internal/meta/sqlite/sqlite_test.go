package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/meta/metatest"
	"github.com/moat-registry/moat/internal/meta/sqlite"
)

func TestSuite(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func BenchmarkListTags(b *testing.B) {
	metatest.BenchmarkListTags(b, func(b *testing.B) meta.Store {
		s, err := sqlite.Open(filepath.Join(b.TempDir(), "meta.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}
