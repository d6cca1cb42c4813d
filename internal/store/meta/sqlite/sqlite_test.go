package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/metatest"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

// openStore opens a new store in a temporary directory.
func openStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "meta.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestSuite(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store { return openStore(t) })
}

func BenchmarkListTags(b *testing.B) {
	metatest.BenchmarkListTags(b, func(b *testing.B) meta.Store { return openStore(b) })
}

func BenchmarkAuditPage(b *testing.B) {
	metatest.BenchmarkAuditPage(b, func(b *testing.B) meta.Store { return openStore(b) })
}
