package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
	"github.com/opencontainers/go-digest"
)

func open(t *testing.T) *sqlite.Store {
	t.Helper()
	s := openStore(t)
	if err := s.CreateRegistry(context.Background(), &meta.Registry{Key: "reg1", Name: "reg1", SKU: "Premium", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return s
}

func mf(i int) *meta.Manifest {
	c := fmt.Appendf(nil, `{"schemaVersion":2,"n":%d}`, i)
	return &meta.Manifest{Digest: digest.FromBytes(c), MediaType: "application/vnd.oci.image.manifest.v1+json", Content: c}
}

// The read cache must never answer with what a finished write changed: each
// answer is read (and so cached) before the write that changes it.
func TestCacheSeesEveryWrite(t *testing.T) {
	s, ctx := open(t), context.Background()
	resolve := func(want digest.Digest) {
		t.Helper()
		for range 2 { // the second answer comes from the cache
			d, err := s.ResolveTag(ctx, "reg1", "app", "t")
			if want == "" {
				if !errors.Is(err, meta.ErrNotFound) {
					t.Fatalf("resolve after delete: %v %v", d, err)
				}
				continue
			}
			if err != nil || d != want {
				t.Fatalf("resolve: %s %v, want %s", d, err, want)
			}
		}
	}
	for i := range 20 {
		m := mf(i)
		if err := s.PutManifest(ctx, "reg1", "app", m, "t"); err != nil {
			t.Fatal(err)
		}
		resolve(m.Digest)
		if got, err := s.GetManifest(ctx, "reg1", "app", m.Digest); err != nil || string(got.Content) != string(m.Content) {
			t.Fatalf("get: %v", err)
		}
	}
	last := mf(19)
	if err := s.DeleteTag(ctx, "reg1", "app", "t"); err != nil {
		t.Fatal(err)
	}
	resolve("")
	s.GetManifest(ctx, "reg1", "app", last.Digest)
	if err := s.DeleteManifest(ctx, "reg1", "app", last.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetManifest(ctx, "reg1", "app", last.Digest); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("manifest after delete: %v", err)
	}
	m := mf(100)
	s.PutManifest(ctx, "reg1", "app", m, "t")
	resolve(m.Digest)
	if err := s.DeleteRegistry(ctx, "reg1"); err != nil {
		t.Fatal(err)
	}
	resolve("")
}

// While readers keep the cache warm, every write is visible to the next read.
func TestCacheReadYourWritesUnderLoad(t *testing.T) {
	s, ctx := open(t), context.Background()
	s.PutManifest(ctx, "reg1", "app", mf(0), "t")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if d, err := s.ResolveTag(ctx, "reg1", "app", "t"); err == nil {
					s.GetManifest(ctx, "reg1", "app", d)
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	for i := 1; i <= 200; i++ {
		m := mf(i)
		if err := s.PutManifest(ctx, "reg1", "app", m, "t"); err != nil {
			t.Fatal(err)
		}
		if d, err := s.ResolveTag(ctx, "reg1", "app", "t"); err != nil || d != m.Digest {
			t.Fatalf("write %d: resolve gave %s %v, want %s", i, d, err, m.Digest)
		}
	}
}
