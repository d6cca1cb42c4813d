package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
)

// Writes the cache does not read (an audit event, an upload session, a blob
// link) keep it; a tag write empties it.
func TestCacheKeptByOtherWrites(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	m := &meta.Manifest{Digest: "sha256:" + "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12", MediaType: "x", Content: []byte("{}")}
	if err := s.PutManifest(ctx, "reg1", "app", m, "t"); err != nil {
		t.Fatal(err)
	}
	s.ResolveTag(ctx, "reg1", "app", "t")
	g := s.cache.gen.Load()
	s.PutResource(ctx, &meta.Resource{ID: "/audit/x", Type: "audit", Body: []byte(`{}`)})
	s.CreateUpload(ctx, &meta.Upload{ID: "u1", Registry: "reg1", Repository: "app", CreatedAt: time.Now()})
	s.DeleteUpload(ctx, "u1")
	s.LinkBlob(ctx, "reg1", "app", m.Digest, 2)
	if s.cache.gen.Load() != g {
		t.Fatal("a write to a table the cache does not read emptied it")
	}
	if _, ok := s.cache.tag(cacheKey{"reg1", "app", "t"}); !ok {
		t.Fatal("tag not cached after a resolve")
	}
	s.DeleteTag(ctx, "reg1", "app", "t")
	if _, ok := s.cache.tag(cacheKey{"reg1", "app", "t"}); ok {
		t.Fatal("tag still cached after its deletion")
	}
}
