package gc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/gc"
	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCollect: what goes and what stays.
func TestCollect(t *testing.T) {
	eachStore(t, func(t *testing.T, m meta.Store, b blob.Store) {
		e := newEnv(t, m, b)
		shared, keep := []byte("shared layer"), []byte("kept layer")
		// Larger than an S3 part (8 MiB): on S3 its key is a pointer to the
		// data object, which GC deletes too (and counts its bytes).
		old := append([]byte("old layer"), make([]byte, 9<<20)...)
		v1 := newImage([]byte(`{"v":1}`), shared, old)
		v2 := newImage([]byte(`{"v":2}`), shared, keep)
		must(t, e.push("app", "latest", v1))
		must(t, e.push("app", "latest", v2)) // v1 is now untagged
		// An index (pushed by tag) whose children are pushed by digest only.
		child := newImage([]byte(`{"child":1}`), keep)
		must(t, e.push("app", child.digest().String(), child))
		idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
			Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: child.digest(), Size: int64(len(child.manifest))}}})
		must(t, e.putManifest("app", "multi", ocispec.MediaTypeImageIndex, idx))
		// A referrer of the tagged image: kept while its subject is.
		sig := newImage([]byte(`{"sig":1}`))
		sigm := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/x-sig",
			Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(sig.blobs[0]), Size: int64(len(sig.blobs[0]))},
			Layers: []ocispec.Descriptor{}, Subject: &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: v2.digest(), Size: int64(len(v2.manifest))}}
		sigBody, _ := json.Marshal(sigm)
		must(t, e.pushBlob("app", sig.blobs[0]))
		must(t, e.putManifest("app", digest.FromBytes(sigBody).String(), ocispec.MediaTypeImageManifest, sigBody))
		// The same content in registry beta (no retention policy) is never touched.
		must(t, e.in("beta").push("app", "x", v1))
		must(t, e.in("beta").putManifest("app", v2.digest().String(), ocispec.MediaTypeImageManifest, v2.manifest))

		trail := audit.New(m, nil, audit.Options{})
		auditCtx, stopAudit := context.WithCancel(ctx)
		defer stopAudit()
		go trail.Run(auditCtx, time.Hour)
		e.gc.Audit = trail
		dry, err := e.gc.Run(ctx, gc.Options{DryRun: true, Wait: true})
		must(t, err)
		res := e.run()
		must(t, trail.Sync(ctx))
		if p, err := trail.List(ctx, audit.Query{Registry: "alpha", Since: time.Now().Add(-time.Hour), Type: audit.TypeGC}); err != nil || len(p.Events) != 1 ||
			!strings.Contains(p.Events[0].Detail, "deleted 1 untagged manifest(s) and removed 2 unreferenced blob link(s)") {
			t.Fatalf("audit events of the run (none for the dry run): %+v %v", p, err)
		}
		if res.ManifestsDeleted != 1 || res.LinksRemoved != 2 {
			t.Fatalf("run: %+v; want v1's manifest and its config and old-layer links", res)
		}
		if dry.ManifestsDeleted != res.ManifestsDeleted || dry.LinksRemoved != res.LinksRemoved {
			t.Fatalf("dry run %+v does not report what the run did %+v", dry, res)
		}
		// The old layer and v1's config are still linked in beta: no bytes go.
		if res.BlobsDeleted != 0 || !e.blobExists(digest.FromBytes(old)) {
			t.Fatalf("blobs deleted while registry beta links them: %+v", res)
		}
		for _, ref := range []string{"latest", child.digest().String(), digest.FromBytes(sigBody).String()} {
			must(t, e.readable("app", ref))
		}
		if st, _, _ := e.do(http.MethodGet, "/v2/alpha/app/manifests/"+v1.digest().String(), "", nil); st != http.StatusNotFound {
			t.Fatalf("untagged v1 after GC: %d", st)
		}
		must(t, e.in("beta").readable("app", "x"))

		// Registry beta deleted: its links go with it; now the bytes go too.
		must(t, m.DeleteRegistry(ctx, "beta"))
		res = e.run()
		if res.BlobsDeleted != 2 || res.BytesFreed != int64(len(old)+len(`{"v":1}`)) || e.blobExists(digest.FromBytes(old)) {
			t.Fatalf("after beta is gone: %+v", res)
		}
		// Untag the index and the image: everything goes, referrer and child included.
		for _, tag := range []string{"multi", "latest"} {
			if st, b, _ := e.do(http.MethodDelete, "/v2/alpha/app/manifests/"+tag, "", nil); st != http.StatusAccepted {
				t.Fatalf("delete tag %s: %d %s", tag, st, b)
			}
		}
		res = e.run()
		if res.ManifestsDeleted != 4 || res.BlobsDeleted != 5 {
			t.Fatalf("after untagging everything: %+v; want 4 manifests, 5 blobs", res)
		}
		if res := e.run(); res != (gc.Result{}) {
			t.Fatalf("a second run found more: %+v", res)
		}
	})
}

// expectCode checks that err is the registry's answer with the given status and code.
func expectCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf(": %d ", status)) || !strings.Contains(err.Error(), code) {
		t.Fatalf("got %v, want %d %s", err, status, code)
	}
}

// TestLinkWhileDeleting: a client commits and links a blob while GC holds its
// tombstone (between the decision and the deletion): the link is refused.
func TestLinkWhileDeleting(t *testing.T) {
	eachStore(t, func(t *testing.T, m meta.Store, b blob.Store) {
		e := newEnv(t, m, b)
		x := []byte("blob x")
		must(t, e.uploadBlob("app", x))
		if st, _, _ := e.do(http.MethodDelete, "/v2/alpha/app/blobs/"+digest.FromBytes(x).String(), "", nil); st != http.StatusAccepted {
			t.Fatalf("unlink: %d", st)
		}
		var during error
		e.blobs.beforeDelete = func() { during = e.uploadBlob("other", x) }
		if res := e.run(); res.BlobsDeleted != 1 {
			t.Fatalf("run: %+v", res)
		}
		expectCode(t, during, http.StatusNotFound, "BLOB_UNKNOWN")
		must(t, e.uploadBlob("other", x)) // the client's retry
		must(t, e.push("other", "v1", newImage([]byte("{}"), x)))
		must(t, e.readable("other", "v1"))
	})
}

// TestLinkAfterDelete: a client's commit lands before GC deletes the bytes
// and its link after GC is done: the handler's check after linking sees the
// bytes are gone and answers BLOB_UNKNOWN instead of 201.
func TestLinkAfterDelete(t *testing.T) {
	eachStore(t, func(t *testing.T, m meta.Store, b blob.Store) {
		e := newEnv(t, m, b)
		x := []byte("blob x")
		var res gc.Result
		e.meta.beforeLink = func() { res = e.run() }
		expectCode(t, e.uploadBlob("app", x), http.StatusNotFound, "BLOB_UNKNOWN")
		if res.BlobsDeleted != 1 {
			t.Fatalf("run between commit and link: %+v", res)
		}
		must(t, e.push("app", "v1", newImage([]byte("{}"), x)))
		must(t, e.readable("app", "v1"))
	})
}

// swept sets up a repository where layer l is referenced only by an untagged
// manifest, and returns an image using l whose blobs the client has checked.
func swept(t *testing.T, e *env) (image, []byte) {
	l := []byte("layer l")
	must(t, e.push("app", "latest", newImage([]byte(`{"v":1}`), l)))
	must(t, e.push("app", "latest", newImage([]byte(`{"v":2}`), []byte("layer m"))))
	v3 := newImage([]byte(`{"v":3}`), l)
	for _, b := range v3.blobs {
		must(t, e.pushBlob("app", b)) // HEAD finds l: not uploaded again
	}
	return v3, l
}

// TestPushBeforeSweep: a manifest referencing a link GC marked unreferenced is
// pushed between mark and sweep: the sweep sees the repository changed, marks
// again, and keeps the link.
func TestPushBeforeSweep(t *testing.T) {
	eachStore(t, func(t *testing.T, m meta.Store, b blob.Store) {
		e := newEnv(t, m, b)
		v3, l := swept(t, e)
		var during error
		e.meta.beforeSweep = func() { during = e.putManifest("app", "next", ocispec.MediaTypeImageManifest, v3.manifest) }
		res := e.run()
		must(t, during)
		if res.ManifestsDeleted != 1 || res.LinksRemoved != 1 || !e.blobExists(digest.FromBytes(l)) {
			t.Fatalf("run: %+v; want v1 and its config link only", res)
		}
		must(t, e.readable("app", "next"))
	})
}

// TestPushAfterSweep: the same manifest pushed just after the sweep removed the
// link: refused with MANIFEST_BLOB_UNKNOWN; the client pushes the blob again.
func TestPushAfterSweep(t *testing.T) {
	eachStore(t, func(t *testing.T, m meta.Store, b blob.Store) {
		e := newEnv(t, m, b)
		v3, _ := swept(t, e)
		var during, retry error
		e.meta.afterSweep = func() {
			during = e.putManifest("app", "next", ocispec.MediaTypeImageManifest, v3.manifest)
			retry = e.push("app", "next", v3)
		}
		e.run()
		expectCode(t, during, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
		must(t, retry)
		e.run()
		must(t, e.readable("app", "next"))
	})
}

// TestConcurrentPushes: several clients push images sharing layers through the
// HTTP API, re-tagging so that layers keep becoming garbage, while GC runs in a
// loop with no grace window. Afterwards every tag resolves and every blob of
// every tagged manifest is readable and hashes to its digest.
func TestConcurrentPushes(t *testing.T) {
	eachStore(t, func(t *testing.T, m meta.Store, b blob.Store) {
		e := newEnv(t, m, b)
		shared := make([][]byte, 6)
		for i := range shared {
			shared[i] = []byte(strings.Repeat(fmt.Sprint("shared", i), 200))
		}
		const clients, pushes = 4, 12
		var total gc.Result
		done := make(chan struct{})
		var gcErr error
		var collector sync.WaitGroup
		collector.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				start := time.Now()
				r, err := e.gc.Run(ctx, gc.Options{Wait: true, Uploads: true})
				if err != nil {
					gcErr = err
					return
				}
				total.ManifestsDeleted += r.ManifestsDeleted
				total.BlobsDeleted += r.BlobsDeleted
				// With no grace window a collector that never pauses deletes
				// every blob between its commit and its link: clients would
				// retry forever (safe, but no progress). Pausing as long as
				// a run took leaves clients half the time on any store.
				time.Sleep(20*time.Millisecond + time.Since(start))
			}
		})
		var retries sync.Map
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for c := range clients {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(c), 7))
				repo := fmt.Sprint("app", c%2)
				for i := range pushes {
					img := newImage([]byte(fmt.Sprintf(`{"c":%d,"i":%d}`, c, i)),
						shared[rng.IntN(len(shared))], shared[rng.IntN(len(shared))], []byte(fmt.Sprint("own", c, i)))
					var err error
					for attempt := range 200 {
						if err = e.push(repo, fmt.Sprint("t", c), img); err == nil {
							break
						}
						retries.Store(fmt.Sprint(c, i, attempt), err.Error())
					}
					if err != nil {
						errs <- fmt.Errorf("client %d push %d: %w", c, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(done)
		collector.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if gcErr != nil {
			t.Fatal(gcErr)
		}
		final := e.run()
		total.ManifestsDeleted += final.ManifestsDeleted
		total.BlobsDeleted += final.BlobsDeleted
		n := 0
		retries.Range(func(_, v any) bool { n++; t.Log("retried:", v); return true })
		t.Logf("GC deleted %d manifests and %d blobs; clients retried %d pushes", total.ManifestsDeleted, total.BlobsDeleted, n)
		if total.ManifestsDeleted == 0 || total.BlobsDeleted == 0 {
			t.Fatalf("GC deleted nothing (%+v): the test did not exercise it", total)
		}
		for c := range clients {
			must(t, e.readable(fmt.Sprint("app", c%2), fmt.Sprint("t", c)))
		}
	})
}

// TestUploadExpiry: an idle upload session is removed from both stores and a
// resume gets BLOB_UPLOAD_UNKNOWN; an active one survives.
func TestUploadExpiry(t *testing.T) {
	eachStore(t, func(t *testing.T, m meta.Store, b blob.Store) {
		e := newEnv(t, m, b)
		st, _, h := e.do(http.MethodPost, "/v2/alpha/app/blobs/uploads/", "", nil)
		if st != http.StatusAccepted {
			t.Fatal(st)
		}
		idle := h.Get("Location")
		// An orphan in the blob store (as after a crash), and a row without an upload.
		u, err := e.blobs.NewUpload(ctx, digest.SHA256)
		must(t, err)
		orphan := u.ID()
		u.Close()
		must(t, m.CreateUpload(ctx, &meta.Upload{ID: "gone", Registry: "alpha", Repository: "app", CreatedAt: time.Now().Add(-2 * time.Hour)}))
		e.gc.UploadExpiry = time.Hour
		if r, err := e.gc.Run(ctx, gc.Options{Uploads: true, Wait: true}); err != nil || r.UploadsExpired != 1 {
			t.Fatalf("nothing idle yet but the row without an upload: %+v %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
		e.gc.UploadExpiry = 10 * time.Millisecond
		r, err := e.gc.Run(ctx, gc.Options{Uploads: true, Wait: true})
		if err != nil || r.UploadsExpired != 2 {
			t.Fatalf("run: %+v %v, want 2 uploads expired", r, err)
		}
		if st, body, _ := e.do(http.MethodPatch, idle, "application/octet-stream", []byte("x")); st != http.StatusNotFound || !strings.Contains(string(body), "BLOB_UPLOAD_UNKNOWN") {
			t.Fatalf("resume of an expired upload: %d %s", st, body)
		}
		if _, err := e.blobs.ResumeUpload(ctx, orphan); err == nil {
			t.Fatal("the orphaned blob-store upload survived")
		}
		found := false
		must(t, e.blobs.WalkUploads(ctx, func(blob.UploadInfo) error { found = true; return nil }))
		if found {
			t.Fatal("uploads remain in the blob store")
		}
		if _, err := m.GetUpload(ctx, "gone"); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("row without an upload: %v", err)
		}
	})
}
