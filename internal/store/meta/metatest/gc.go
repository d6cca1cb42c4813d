package metatest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

func init() {
	gcTests = map[string]func(*testing.T, meta.Store){
		"GCSweep":             testGCSweep,
		"GCReferenceRemoved":  testGCReferenceRemoved,
		"GCTombstone":         testGCTombstone,
		"GCLinkVsTombstone":   testGCLinkVsTombstone,
		"GCPushVsSweep":       testGCPushVsSweep,
		"GCUploadsAndLocking": testGCUploadsAndLocking,
	}
}

var gcTests map[string]func(*testing.T, meta.Store)

func blobDigest(s string) digest.Digest { return digest.FromString(s) }

func testGCSweep(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	tagged, untagged := manifest("tagged"), manifest("untagged")
	l1, l2 := blobDigest("l1"), blobDigest("l2")
	for _, d := range []digest.Digest{l1, l2} {
		if err := s.LinkBlob(ctx, "alpha1", "app", d, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutManifest(ctx, "alpha1", "app", tagged, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutManifest(ctx, "alpha1", "app", untagged); err != nil {
		t.Fatal(err)
	}
	c, err := s.RepositoryContent(ctx, "alpha1", "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Manifests) != 2 || len(c.Links) != 2 || !c.Tagged[tagged.Digest] || c.Tagged[untagged.Digest] {
		t.Fatalf("content: %d manifests, %d links, tagged %v", len(c.Manifests), len(c.Links), c.Tagged)
	}
	for _, m := range c.Manifests {
		if m.Pushed.IsZero() || time.Since(m.Pushed) > time.Hour || len(m.Content) == 0 {
			t.Fatalf("manifest %s: pushed %v, %d bytes", m.Digest, m.Pushed, len(m.Content))
		}
	}
	// A push since the mark: the sweep must not act on its stale plan.
	if err := s.PutManifest(ctx, "alpha1", "app", manifest("other")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SweepRepository(ctx, "alpha1", "app", c.Gen, []digest.Digest{untagged.Digest}, []digest.Digest{l1}, time.Now().Add(time.Hour)); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("sweep with an old generation: %v, want ErrConflict", err)
	}
	c, _ = s.RepositoryContent(ctx, "alpha1", "app")
	// l2 linked again after the cutoff: kept.
	cutoff := time.Now()
	time.Sleep(2 * time.Millisecond)
	if err := s.LinkBlob(ctx, "alpha1", "app", l2, 2); err != nil {
		t.Fatal(err)
	}
	// Read it first, so that a store that caches reads must forget it.
	if _, err := s.GetManifest(ctx, "alpha1", "app", untagged.Digest); err != nil {
		t.Fatal(err)
	}
	sw, err := s.SweepRepository(ctx, "alpha1", "app", c.Gen, []digest.Digest{untagged.Digest}, []digest.Digest{l1, l2}, cutoff)
	if err != nil || sw.Manifests != 1 || sw.Links != 1 {
		t.Fatalf("sweep: %+v %v, want 1 manifest and 1 link", sw, err)
	}
	if _, err := s.GetManifest(ctx, "alpha1", "app", untagged.Digest); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("swept manifest: %v", err)
	}
	if _, err := s.BlobSize(ctx, "alpha1", "app", l1); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("swept link: %v", err)
	}
	if _, err := s.BlobSize(ctx, "alpha1", "app", l2); err != nil {
		t.Fatalf("link made after the cutoff: %v", err)
	}
	if ok, err := s.BlobLinked(ctx, l1); ok || err != nil {
		t.Fatalf("BlobLinked(l1) = %v %v", ok, err)
	}
	if ok, err := s.BlobLinked(ctx, l2); !ok || err != nil {
		t.Fatalf("BlobLinked(l2) = %v %v", ok, err)
	}
}

func testGCReferenceRemoved(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	l := blobDigest("layer")
	never := blobDigest("never pushed")
	if err := s.LinkBlob(ctx, "alpha1", "app", l, 2); err != nil {
		t.Fatal(err)
	}
	c, _ := s.RepositoryContent(ctx, "alpha1", "app")
	if _, err := s.SweepRepository(ctx, "alpha1", "app", c.Gen, nil, []digest.Digest{l}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	m := manifest("image")
	m.Refs = []digest.Digest{never, l}
	if err := s.PutManifest(ctx, "alpha1", "app", m, "v1"); !errors.Is(err, meta.ErrReferenceRemoved) {
		t.Fatalf("manifest referencing a swept link: %v, want ErrReferenceRemoved", err)
	}
	// Other repositories and registries are not affected.
	newRegistry(t, s, "beta12")
	if err := s.PutManifest(ctx, "beta12", "app", m, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkBlob(ctx, "alpha1", "app", l, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.PutManifest(ctx, "alpha1", "app", m, "v1"); err != nil {
		t.Fatalf("manifest after the blob was linked again: %v", err)
	}
	// Forgetting the removal accepts the reference as a never-pushed one.
	c, _ = s.RepositoryContent(ctx, "alpha1", "app")
	if _, err := s.SweepRepository(ctx, "alpha1", "app", c.Gen, nil, []digest.Digest{l}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetRemoved(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutManifest(ctx, "alpha1", "app", m, "v1"); err != nil {
		t.Fatalf("after ForgetRemoved: %v", err)
	}
}

func testGCTombstone(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	d := blobDigest("b")
	if err := s.LinkBlob(ctx, "alpha1", "app", d, 1); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.TombstoneBlob(ctx, d); ok || err != nil {
		t.Fatalf("tombstone of a linked blob: %v %v", ok, err)
	}
	if err := s.UnlinkBlob(ctx, "alpha1", "app", d); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.TombstoneBlob(ctx, d); !ok || err != nil {
		t.Fatalf("tombstone of an unlinked blob: %v %v", ok, err)
	}
	if err := s.LinkBlob(ctx, "alpha1", "other", d, 1); !errors.Is(err, meta.ErrBlobDeleting) {
		t.Fatalf("link while tombstoned: %v, want ErrBlobDeleting", err)
	}
	if ts, err := s.Tombstones(ctx); err != nil || len(ts) != 1 || ts[0] != d {
		t.Fatalf("tombstones: %v %v", ts, err)
	}
	if err := s.ClearTombstone(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkBlob(ctx, "alpha1", "other", d, 1); err != nil {
		t.Fatalf("link after the tombstone: %v", err)
	}
}

// testGCLinkVsTombstone races LinkBlob against TombstoneBlob on one digest:
// exactly one may win each round (a link to a blob whose bytes GC deletes is
// the loss this prevents).
func testGCLinkVsTombstone(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	for i := range 50 {
		d := blobDigest(fmt.Sprint("race", i))
		var linkErr error
		var tombed bool
		var tombErr error
		var wg sync.WaitGroup
		wg.Go(func() { linkErr = s.LinkBlob(ctx, "alpha1", "app", d, 1) })
		wg.Go(func() { tombed, tombErr = s.TombstoneBlob(ctx, d) })
		wg.Wait()
		if tombErr != nil || (linkErr != nil && !errors.Is(linkErr, meta.ErrBlobDeleting)) {
			t.Fatalf("round %d: link %v, tombstone %v", i, linkErr, tombErr)
		}
		if (linkErr == nil) == tombed {
			t.Fatalf("round %d: link error %v and tombstone set %v: exactly one must win", i, linkErr, tombed)
		}
	}
}

// testGCPushVsSweep races a manifest push referencing a link against a sweep
// that removes the link: never may both succeed.
func testGCPushVsSweep(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	for i := range 50 {
		l := blobDigest(fmt.Sprint("layer", i))
		if err := s.LinkBlob(ctx, "alpha1", "app", l, 1); err != nil {
			t.Fatal(err)
		}
		c, err := s.RepositoryContent(ctx, "alpha1", "app")
		if err != nil {
			t.Fatal(err)
		}
		m := manifest(fmt.Sprint("m", i))
		m.Refs = []digest.Digest{l}
		var putErr, sweepErr error
		var sw meta.Swept
		var wg sync.WaitGroup
		wg.Go(func() { putErr = s.PutManifest(ctx, "alpha1", "app", m, "v1") })
		wg.Go(func() {
			sw, sweepErr = s.SweepRepository(ctx, "alpha1", "app", c.Gen, nil, []digest.Digest{l}, time.Now().Add(time.Hour))
		})
		wg.Wait()
		if putErr != nil && !errors.Is(putErr, meta.ErrReferenceRemoved) || sweepErr != nil && !errors.Is(sweepErr, meta.ErrConflict) {
			t.Fatalf("round %d: put %v, sweep %v", i, putErr, sweepErr)
		}
		if putErr == nil && sw.Links > 0 {
			t.Fatalf("round %d: the manifest was stored and its blob link removed", i)
		}
	}
}

func testGCUploadsAndLocking(t *testing.T, s meta.Store) {
	old := time.Now().Add(-48 * time.Hour)
	for i, at := range []time.Time{old, time.Now()} {
		if err := s.CreateUpload(ctx, &meta.Upload{ID: fmt.Sprint("u", i), Registry: "alpha1", Repository: "app", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	us, err := s.ListUploads(ctx, time.Now().Add(-time.Hour))
	if err != nil || len(us) != 1 || us[0].ID != "u0" || us[0].Repository != "app" {
		t.Fatalf("uploads before an hour ago: %v %v", us, err)
	}
	unlock, ok, err := s.LockGC(ctx, false)
	if !ok || err != nil {
		t.Fatalf("first lock: %v %v", ok, err)
	}
	if _, ok, err := s.LockGC(ctx, false); ok || err != nil {
		t.Fatalf("second lock while held: %v %v", ok, err)
	}
	unlock()
	unlock, ok, err = s.LockGC(ctx, true)
	if !ok || err != nil {
		t.Fatalf("lock after unlock: %v %v", ok, err)
	}
	unlock()
}
