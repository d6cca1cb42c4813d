package metatest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
)

// pageAll walks a listing page by page (n items each) the way the API
// does: each page continues after the last item of the previous one.
func pageAll[T any](t *testing.T, n int, order meta.Order, list func(meta.Page) ([]T, error), key func(T) (string, int64)) []string {
	t.Helper()
	var out []string
	p := meta.Page{N: n, Order: order}
	for range 1000 {
		page, err := list(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > n {
			t.Fatalf("page of %d items, asked for %d", len(page), n)
		}
		for _, it := range page {
			name, _ := key(it)
			out = append(out, name)
		}
		if len(page) < n {
			return out
		}
		name, at := key(page[len(page)-1])
		p.After, p.AfterTime = name, unixNano(at)
	}
	t.Fatal("the listing never ended")
	return nil
}

func tagKey(t *meta.TagInfo) (string, int64) { return t.Name, t.Updated.UnixNano() }

func manifestKey(m *meta.ManifestInfo) (string, int64) {
	return m.Digest.String(), m.Updated.UnixNano()
}

func testListingPages(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	var pushed []string // in push order
	for i := range 12 {
		tag := fmt.Sprintf("t%02d", (i*7)%12) // names not in push order
		must(t, s.PutManifest(ctx, "alpha1", "app", manifest(tag), tag))
		pushed = append(pushed, tag)
	}
	// Ten tags in one push share one time: ties go by name.
	var batch []string
	for i := range 10 {
		batch = append(batch, fmt.Sprintf("u%02d", i))
	}
	must(t, s.PutManifest(ctx, "alpha1", "app", manifest("batch"), batch...))
	byName := slices.Sorted(slices.Values(append(slices.Clone(pushed), batch...)))
	asc := append(slices.Clone(pushed), batch...)
	desc := slices.Clone(asc)
	slices.Reverse(desc)
	tags := func(p meta.Page) ([]*meta.TagInfo, error) { return s.ListTagProperties(ctx, "alpha1", "app", p) }
	for _, c := range []struct {
		order meta.Order
		want  []string
	}{{meta.ByName, byName}, {meta.ByTimeAsc, asc}, {meta.ByTimeDesc, desc}} {
		for _, n := range []int{1, 3, 10, 100} {
			if got := pageAll(t, n, c.order, tags, tagKey); !slices.Equal(got, c.want) {
				t.Fatalf("tags order %d, pages of %d:\n got %v\nwant %v", c.order, n, got, c.want)
			}
		}
	}
	if got, _ := s.ListTagProperties(ctx, "alpha1", "app", meta.Page{N: 100, Digest: manifest("batch").Digest}); len(got) != 10 || got[0].Name != "u00" {
		t.Fatalf("tags of one digest: %d", len(got))
	}
	// Manifests: by digest, and by time.
	var digests []string
	for _, tag := range pushed {
		digests = append(digests, manifest(tag).Digest.String())
	}
	digests = append(digests, manifest("batch").Digest.String())
	manifests := func(p meta.Page) ([]*meta.ManifestInfo, error) {
		return s.ListManifestProperties(ctx, "alpha1", "app", p)
	}
	if got := pageAll(t, 4, meta.ByTimeAsc, manifests, manifestKey); !slices.Equal(got, digests) {
		t.Fatalf("manifests by time:\n got %v\nwant %v", got, digests)
	}
	sorted := slices.Sorted(slices.Values(digests))
	if got := pageAll(t, 5, meta.ByName, manifests, manifestKey); !slices.Equal(got, sorted) {
		t.Fatalf("manifests by digest:\n got %v\nwant %v", got, sorted)
	}
	page, _ := s.ListManifestProperties(ctx, "alpha1", "app", meta.Page{N: 1, Order: meta.ByTimeDesc})
	if len(page) != 1 || len(page[0].Tags) != 10 {
		t.Fatalf("newest manifest: %+v", page)
	}
	// Repositories.
	for _, r := range []string{"c", "a/b", "b"} {
		must(t, s.PutManifest(ctx, "alpha1", r, manifest(r)))
	}
	var repos []string
	last := ""
	for {
		page, err := s.ListedRepositories(ctx, "alpha1", last, 2)
		if err != nil {
			t.Fatal(err)
		}
		repos = append(repos, page...)
		if len(page) < 2 {
			break
		}
		last = page[len(page)-1]
	}
	if !slices.Equal(repos, []string{"a/b", "app", "b", "c"}) {
		t.Fatalf("repositories: %v", repos)
	}
}

func testListingHidden(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	shown, hidden := manifest("shown"), manifest("hidden")
	must(t, s.PutManifest(ctx, "alpha1", "app", shown, "a", "c"))
	must(t, s.PutManifest(ctx, "alpha1", "app", hidden, "b"))
	must(t, s.PutManifest(ctx, "alpha1", "secret", shown))
	must(t, second(s.SetTagAttributes(ctx, "alpha1", "app", "b", noList)))
	must(t, second(s.SetManifestAttributes(ctx, "alpha1", "app", hidden.Digest, noList)))
	must(t, second(s.SetRepositoryAttributes(ctx, "alpha1", "secret", noList)))
	if tags, _ := s.ListTags(ctx, "alpha1", "app", "", -1); !slices.Equal(tags, []string{"a", "c"}) {
		t.Fatalf("tag list: %v", tags)
	}
	if tags, _ := s.ListTags(ctx, "alpha1", "app", "a", 1); !slices.Equal(tags, []string{"c"}) {
		t.Fatalf("tag page after a hidden tag: %v", tags)
	}
	for _, order := range []meta.Order{meta.ByName, meta.ByTimeDesc} {
		tags, _ := s.ListTagProperties(ctx, "alpha1", "app", meta.Page{N: 10, Order: order})
		if len(tags) != 2 || slices.ContainsFunc(tags, func(t *meta.TagInfo) bool { return t.Name == "b" }) {
			t.Fatalf("tag properties (order %d) show a hidden tag: %d", order, len(tags))
		}
	}
	if ms, _ := s.ListManifestProperties(ctx, "alpha1", "app", meta.Page{N: 10}); len(ms) != 1 || ms[0].Digest != shown.Digest {
		t.Fatalf("manifest list: %+v", ms)
	}
	if repos, _ := s.ListedRepositories(ctx, "alpha1", "", 10); !slices.Equal(repos, []string{"app"}) {
		t.Fatalf("listed repositories: %v", repos)
	}
	if repos, _ := s.ListRepositories(ctx, "alpha1", "", -1); !slices.Equal(repos, []string{"app", "secret"}) {
		t.Fatalf("every repository (garbage collection's list): %v", repos)
	}
	// Hidden is not gone: it can be read by name.
	if _, err := s.TagProperties(ctx, "alpha1", "app", "b"); err != nil {
		t.Fatalf("hidden tag: %v", err)
	}
	if d, err := s.ResolveTag(ctx, "alpha1", "app", "b"); err != nil || d != hidden.Digest {
		t.Fatalf("pull of a hidden tag: %v %v", d, err)
	}
}

func unixNano(ns int64) time.Time { return time.Unix(0, ns) }
