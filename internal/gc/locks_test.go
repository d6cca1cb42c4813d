package gc_test

import (
	"testing"

	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

// TestLockedNotCollected: retention never deletes a manifest with
// deleteEnabled or writeEnabled false, nor the blobs it references, nor
// anything in a repository with writeEnabled false.
func TestLockedNotCollected(t *testing.T) {
	no := false
	eachStore(t, func(t *testing.T, m meta.Store, b blob.Store) {
		e := newEnv(t, m, b)
		noDelete := newImage([]byte(`{"lock":"delete"}`), []byte("layer d"))
		noWrite := newImage([]byte(`{"lock":"write"}`), []byte("layer w"))
		loose := newImage([]byte(`{"lock":"none"}`), []byte("layer l"))
		inLocked := newImage([]byte(`{"repo":"locked"}`), []byte("layer r"))
		for _, img := range []image{noDelete, noWrite, loose} {
			must(t, e.push("app", img.digest().String(), img)) // untagged
		}
		must(t, e.push("frozen", inLocked.digest().String(), inLocked))
		must(t, second(m.SetManifestAttributes(ctx, "alpha", "app", noDelete.digest(), meta.AttributesPatch{DeleteEnabled: &no})))
		must(t, second(m.SetManifestAttributes(ctx, "alpha", "app", noWrite.digest(), meta.AttributesPatch{WriteEnabled: &no})))
		must(t, second(m.SetRepositoryAttributes(ctx, "alpha", "frozen", meta.AttributesPatch{WriteEnabled: &no})))
		res := e.run()
		if res.ManifestsDeleted != 1 {
			t.Fatalf("run: %+v; want only the unlocked untagged manifest deleted", res)
		}
		for _, c := range []struct {
			repo string
			img  image
		}{{"app", noDelete}, {"app", noWrite}, {"frozen", inLocked}} {
			if err := e.readable(c.repo, c.img.digest().String()); err != nil {
				t.Fatalf("a locked image lost content: %v", err)
			}
		}
		if _, err := m.GetManifest(ctx, "alpha", "app", loose.digest()); err == nil {
			t.Fatal("the unlocked untagged manifest was kept")
		}
		if e.blobExists(digest.FromBytes(loose.blobs[1])) {
			t.Fatal("the unlocked manifest's layer was kept")
		}
	})
}

func second[T any](_ T, err error) error { return err }
