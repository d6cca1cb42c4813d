package metatest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

func init() {
	propTests = map[string]func(*testing.T, meta.Store){
		"Properties":       testProperties,
		"AttributeChanges": testAttributeChanges,
		"LockMatrix":       testLockMatrix,
		"ReadLocks":        testReadLocks,
		"DeleteRepository": testDeleteRepository,
		"ListingPages":     testListingPages,
		"ListingHidden":    testListingHidden,
		"GCSkipsLocked":    testGCSkipsLocked,
		"LockVsPush":       testLockVsPush,
	}
}

var propTests map[string]func(*testing.T, meta.Store)

func ptr(b bool) *bool { return &b }

func testProperties(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	before := time.Now().Add(-time.Second)
	img := manifest("image")
	img.Props = &meta.ManifestProps{ConfigMediaType: "application/vnd.oci.image.config.v1+json", ImageSize: 1234,
		Platform: meta.Platform{Architecture: "arm64", OS: "linux"}}
	idx := manifest("index")
	idx.MediaType = "application/vnd.oci.image.index.v1+json"
	idx.Props = &meta.ManifestProps{ImageSize: 10, References: []meta.Platform{{Digest: img.Digest, Architecture: "arm64", OS: "linux"}}}
	must(t, s.PutManifest(ctx, "alpha1", "team/app", img, "v1", "latest"))
	must(t, s.PutManifest(ctx, "alpha1", "team/app", idx, "multi"))

	r, err := s.RepositoryProperties(ctx, "alpha1", "team/app")
	if err != nil || r.Name != "team/app" || r.ManifestCount != 2 || r.TagCount != 3 || r.Attributes != meta.Unlocked {
		t.Fatalf("repository: %+v %v", r, err)
	}
	if r.Created.Before(before) || r.Updated.Before(r.Created) || time.Since(r.Updated) > time.Minute {
		t.Fatalf("repository times: created %v updated %v", r.Created, r.Updated)
	}
	tag, err := s.TagProperties(ctx, "alpha1", "team/app", "v1")
	if err != nil || tag.Name != "v1" || tag.Digest != img.Digest || tag.Attributes != meta.Unlocked || tag.Created.Before(before) {
		t.Fatalf("tag: %+v %v", tag, err)
	}
	m, err := s.ManifestProperties(ctx, "alpha1", "team/app", img.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != img.MediaType || m.ConfigMediaType != img.Props.ConfigMediaType || m.Size != 1234 ||
		m.Architecture != "arm64" || m.OS != "linux" || !slices.Equal(m.Tags, []string{"latest", "v1"}) || m.Attributes != meta.Unlocked {
		t.Fatalf("manifest: %+v", m)
	}
	mi, err := s.ManifestProperties(ctx, "alpha1", "team/app", idx.Digest)
	if err != nil || len(mi.References) != 1 || mi.References[0] != idx.Props.References[0] || !slices.Equal(mi.Tags, []string{"multi"}) {
		t.Fatalf("index: %+v %v", mi, err)
	}
	// A retag moves the tag and keeps its creation time.
	time.Sleep(2 * time.Millisecond)
	must(t, s.PutManifest(ctx, "alpha1", "team/app", idx, "v1"))
	moved, _ := s.TagProperties(ctx, "alpha1", "team/app", "v1")
	if moved.Digest != idx.Digest || !moved.Created.Equal(tag.Created) || !moved.Updated.After(tag.Updated) {
		t.Fatalf("moved tag: %+v (was %+v)", moved, tag)
	}
	for _, err := range []error{
		second(s.RepositoryProperties(ctx, "alpha1", "nope")),
		second(s.TagProperties(ctx, "alpha1", "team/app", "nope")),
		second(s.ManifestProperties(ctx, "alpha1", "team/app", digest.FromString("nope"))),
		second(s.RepositoryProperties(ctx, "beta12", "team/app")),
	} {
		if !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("missing: %v, want ErrNotFound", err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testAttributeChanges(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	m := manifest("x")
	must(t, s.PutManifest(ctx, "alpha1", "app", m, "v1"))
	old, _ := s.TagProperties(ctx, "alpha1", "app", "v1")
	time.Sleep(2 * time.Millisecond)
	tag, err := s.SetTagAttributes(ctx, "alpha1", "app", "v1", meta.AttributesPatch{WriteEnabled: ptr(false), ListEnabled: ptr(false)})
	want := meta.Attributes{DeleteEnabled: true, WriteEnabled: false, ListEnabled: false, ReadEnabled: true}
	if err != nil || tag.Attributes != want || !tag.Updated.After(old.Updated) {
		t.Fatalf("set tag: %+v %v", tag, err)
	}
	if tag, _ = s.SetTagAttributes(ctx, "alpha1", "app", "v1", meta.AttributesPatch{}); tag.Attributes != want {
		t.Fatalf("an empty patch changed the tag: %+v", tag)
	}
	mf, err := s.SetManifestAttributes(ctx, "alpha1", "app", m.Digest, meta.AttributesPatch{DeleteEnabled: ptr(false)})
	if err != nil || mf.DeleteEnabled || !mf.WriteEnabled || !slices.Equal(mf.Tags, []string{"v1"}) {
		t.Fatalf("set manifest: %+v %v", mf, err)
	}
	r, err := s.SetRepositoryAttributes(ctx, "alpha1", "app", meta.AttributesPatch{ReadEnabled: ptr(false)})
	if err != nil || r.ReadEnabled || !r.WriteEnabled || r.TagCount != 1 {
		t.Fatalf("set repository: %+v %v", r, err)
	}
	if a, err := s.RepositoryAttributes(ctx, "alpha1", "app"); err != nil || a.ReadEnabled || !a.DeleteEnabled {
		t.Fatalf("repository attributes: %+v %v", a, err)
	}
	if r, _ := s.SetRepositoryAttributes(ctx, "alpha1", "app", meta.AttributesPatch{ReadEnabled: ptr(true)}); r.Attributes != meta.Unlocked {
		t.Fatalf("unlock: %+v", r)
	}
	for _, err := range []error{
		second(s.SetTagAttributes(ctx, "alpha1", "app", "nope", meta.AttributesPatch{WriteEnabled: ptr(false)})),
		second(s.SetManifestAttributes(ctx, "alpha1", "app", digest.FromString("nope"), meta.AttributesPatch{})),
		second(s.SetRepositoryAttributes(ctx, "alpha1", "nope", meta.AttributesPatch{})),
		second(s.RepositoryAttributes(ctx, "alpha1", "nope")),
	} {
		if !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("change of missing content: %v, want ErrNotFound", err)
		}
	}
}

// lockFixture is a repository "app" with m1 tagged v1 and an untagged m2.
type lockFixture struct {
	s      meta.Store
	reg    string
	m1, m2 *meta.Manifest
}

func (f lockFixture) repo(p meta.AttributesPatch) error {
	_, err := f.s.SetRepositoryAttributes(ctx, f.reg, "app", p)
	return err
}

func (f lockFixture) tag(p meta.AttributesPatch) error {
	_, err := f.s.SetTagAttributes(ctx, f.reg, "app", "v1", p)
	return err
}

func (f lockFixture) manifest(p meta.AttributesPatch) error {
	_, err := f.s.SetManifestAttributes(ctx, f.reg, "app", f.m1.Digest, p)
	return err
}

func (f lockFixture) put(m *meta.Manifest, tags ...string) error {
	return f.s.PutManifest(ctx, f.reg, "app", m, tags...)
}

func (f lockFixture) deleteRepo() error {
	_, err := f.s.DeleteRepository(ctx, f.reg, "app")
	return err
}

func (f lockFixture) read(tag string) error {
	d := f.m1.Digest
	if tag != "" {
		var err error
		if d, err = f.s.ResolveTag(ctx, f.reg, "app", tag); err != nil {
			return err
		}
	}
	_, err := f.s.GetManifest(ctx, f.reg, "app", d)
	return err
}

var (
	noWrite  = meta.AttributesPatch{WriteEnabled: ptr(false)}
	noDelete = meta.AttributesPatch{DeleteEnabled: ptr(false)}
	noRead   = meta.AttributesPatch{ReadEnabled: ptr(false)}
	noList   = meta.AttributesPatch{ListEnabled: ptr(false)}
)

// testLockMatrix checks every operation against every lock: which refuse
// (and which attribute they name) and which pass.
func testLockMatrix(t *testing.T, s meta.Store) {
	blob := digest.FromString("layer")
	type want struct{ kind, attr string } // kind "": allowed
	cases := []struct {
		name string
		lock func(lockFixture) error
		op   func(lockFixture) error
		want want
	}{
		{"repo write: push", lockFixture.repoW, func(f lockFixture) error { return f.put(manifest("new"), "v2") }, want{meta.KindRepository, "writeEnabled"}},
		{"repo write: untag", lockFixture.repoW, func(f lockFixture) error { return f.s.DeleteTag(ctx, f.reg, "app", "v1") }, want{meta.KindRepository, "writeEnabled"}},
		{"repo write: delete manifest", lockFixture.repoW, func(f lockFixture) error { return f.s.DeleteManifest(ctx, f.reg, "app", f.m2.Digest) }, want{meta.KindRepository, "writeEnabled"}},
		{"repo write: link blob", lockFixture.repoW, func(f lockFixture) error { return f.s.LinkBlob(ctx, f.reg, "app", blob, 1) }, want{meta.KindRepository, "writeEnabled"}},
		{"repo write: unlink blob", lockFixture.repoW, func(f lockFixture) error { return f.s.UnlinkBlob(ctx, f.reg, "app", f.m1.Refs[0]) }, want{meta.KindRepository, "writeEnabled"}},
		{"repo write: delete repository", lockFixture.repoW, lockFixture.deleteRepo, want{meta.KindRepository, "writeEnabled"}},
		{"repo write: pull", lockFixture.repoW, func(f lockFixture) error { return f.read("v1") }, want{}},
		{"repo delete: delete repository", lockFixture.repoD, lockFixture.deleteRepo, want{meta.KindRepository, "deleteEnabled"}},
		{"repo delete: delete manifest", lockFixture.repoD, func(f lockFixture) error { return f.s.DeleteManifest(ctx, f.reg, "app", f.m1.Digest) }, want{}},
		{"repo delete: untag", lockFixture.repoD, func(f lockFixture) error { return f.s.DeleteTag(ctx, f.reg, "app", "v1") }, want{}},
		{"repo delete: push", lockFixture.repoD, func(f lockFixture) error { return f.put(f.m2, "v1") }, want{}},
		{"repo read: pull", lockFixture.repoR, func(f lockFixture) error { return f.read("v1") }, want{meta.KindRepository, "readEnabled"}},
		{"repo read: push", lockFixture.repoR, func(f lockFixture) error { return f.put(f.m2, "v2") }, want{}},
		{"repo list: push", func(f lockFixture) error { return f.repo(noList) }, func(f lockFixture) error { return f.put(f.m2, "v2") }, want{}},
		{"tag write: move", lockFixture.tagW, func(f lockFixture) error { return f.put(f.m2, "v1") }, want{meta.KindTag, "writeEnabled"}},
		{"tag write: push again", lockFixture.tagW, func(f lockFixture) error { return f.put(f.m1, "v1") }, want{meta.KindTag, "writeEnabled"}},
		{"tag write: other tag", lockFixture.tagW, func(f lockFixture) error { return f.put(f.m1, "v2") }, want{}},
		{"tag write: untag", lockFixture.tagW, func(f lockFixture) error { return f.s.DeleteTag(ctx, f.reg, "app", "v1") }, want{meta.KindTag, "writeEnabled"}},
		{"tag write: delete its manifest", lockFixture.tagW, func(f lockFixture) error { return f.s.DeleteManifest(ctx, f.reg, "app", f.m1.Digest) }, want{meta.KindTag, "writeEnabled"}},
		{"tag write: delete repository", lockFixture.tagW, lockFixture.deleteRepo, want{meta.KindTag, "writeEnabled"}},
		{"tag delete: untag", lockFixture.tagD, func(f lockFixture) error { return f.s.DeleteTag(ctx, f.reg, "app", "v1") }, want{meta.KindTag, "deleteEnabled"}},
		{"tag delete: delete its manifest", lockFixture.tagD, func(f lockFixture) error { return f.s.DeleteManifest(ctx, f.reg, "app", f.m1.Digest) }, want{meta.KindTag, "deleteEnabled"}},
		{"tag delete: move", lockFixture.tagD, func(f lockFixture) error { return f.put(f.m2, "v1") }, want{}},
		{"tag delete: delete other manifest", lockFixture.tagD, func(f lockFixture) error { return f.s.DeleteManifest(ctx, f.reg, "app", f.m2.Digest) }, want{}},
		{"tag read: pull by tag", lockFixture.tagR, func(f lockFixture) error { return f.read("v1") }, want{meta.KindTag, "readEnabled"}},
		{"tag read: pull by digest", lockFixture.tagR, func(f lockFixture) error { return f.read("") }, want{}},
		{"manifest write: push again", lockFixture.manW, func(f lockFixture) error { return f.put(f.m1) }, want{meta.KindManifest, "writeEnabled"}},
		{"manifest write: tag onto it", lockFixture.manW, func(f lockFixture) error { return f.put(f.m1, "v2") }, want{meta.KindManifest, "writeEnabled"}},
		{"manifest write: delete", lockFixture.manW, func(f lockFixture) error { return f.s.DeleteManifest(ctx, f.reg, "app", f.m1.Digest) }, want{meta.KindManifest, "writeEnabled"}},
		{"manifest write: move its tag away", lockFixture.manW, func(f lockFixture) error { return f.put(f.m2, "v1") }, want{}},
		{"manifest write: untag", lockFixture.manW, func(f lockFixture) error { return f.s.DeleteTag(ctx, f.reg, "app", "v1") }, want{}},
		{"manifest delete: delete", lockFixture.manD, func(f lockFixture) error { return f.s.DeleteManifest(ctx, f.reg, "app", f.m1.Digest) }, want{meta.KindManifest, "deleteEnabled"}},
		{"manifest delete: delete repository", lockFixture.manD, lockFixture.deleteRepo, want{meta.KindManifest, "deleteEnabled"}},
		{"manifest delete: tag onto it", lockFixture.manD, func(f lockFixture) error { return f.put(f.m1, "v2") }, want{}},
		{"manifest read: pull", lockFixture.manR, func(f lockFixture) error { return f.read("v1") }, want{meta.KindManifest, "readEnabled"}},
		{"manifest list: pull", func(f lockFixture) error { return f.manifest(noList) }, func(f lockFixture) error { return f.read("v1") }, want{}},
		{"unlocked: delete repository", func(lockFixture) error { return nil }, lockFixture.deleteRepo, want{}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := lockFixture{s: s, reg: registryName(i), m1: manifest("one"), m2: manifest("two")}
			f.m1.Refs = []digest.Digest{digest.FromString("config")}
			newRegistry(t, s, f.reg)
			must(t, s.LinkBlob(ctx, f.reg, "app", f.m1.Refs[0], 1))
			must(t, f.put(f.m1, "v1"))
			must(t, f.put(f.m2))
			must(t, c.lock(f))
			err := c.op(f)
			var le *meta.LockedError
			switch {
			case c.want.kind == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want.kind != "" && !errors.As(err, &le):
				t.Fatalf("got %v, want refused by %s %s", err, c.want.kind, c.want.attr)
			case c.want.kind != "" && (le.Kind != c.want.kind || le.Attribute != c.want.attr || !errors.Is(err, meta.ErrLocked)):
				t.Fatalf("refused by %+v, want %s %s", le, c.want.kind, c.want.attr)
			case c.want.kind != "" && (le.Registry != f.reg || le.Repository != "app"):
				t.Fatalf("the refusal names registry %q repository %q", le.Registry, le.Repository)
			}
		})
	}
}

func registryName(i int) string { return "lock" + string(rune('a'+i/26)) + string(rune('a'+i%26)) }

func (f lockFixture) repoW() error { return f.repo(noWrite) }
func (f lockFixture) repoD() error { return f.repo(noDelete) }
func (f lockFixture) repoR() error { return f.repo(noRead) }
func (f lockFixture) tagW() error  { return f.tag(noWrite) }
func (f lockFixture) tagD() error  { return f.tag(noDelete) }
func (f lockFixture) tagR() error  { return f.tag(noRead) }
func (f lockFixture) manW() error  { return f.manifest(noWrite) }
func (f lockFixture) manD() error  { return f.manifest(noDelete) }
func (f lockFixture) manR() error  { return f.manifest(noRead) }

// testReadLocks: a refused read is not remembered by a cache once unlocked,
// and a pull that worked is refused once locked.
func testReadLocks(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	m := manifest("x")
	must(t, s.PutManifest(ctx, "alpha1", "app", m, "v1"))
	f := lockFixture{s: s, reg: "alpha1", m1: m}
	must(t, f.read("v1")) // cached, where the store caches
	for _, lock := range []func() error{f.tagR, f.manR, f.repoR} {
		must(t, lock())
		if err := f.read("v1"); !errors.Is(err, meta.ErrLocked) {
			t.Fatalf("read after lock: %v", err)
		}
		must(t, f.tag(meta.AttributesPatch{ReadEnabled: ptr(true)}))
		must(t, f.manifest(meta.AttributesPatch{ReadEnabled: ptr(true)}))
		must(t, f.repo(meta.AttributesPatch{ReadEnabled: ptr(true)}))
		must(t, f.read("v1"))
	}
}

func testDeleteRepository(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	m1, m2 := manifest("1"), manifest("2")
	must(t, s.PutManifest(ctx, "alpha1", "app", m1, "b", "a"))
	must(t, s.PutManifest(ctx, "alpha1", "app", m2))
	must(t, s.PutManifest(ctx, "alpha1", "app2", m2, "keep"))
	must(t, s.LinkBlob(ctx, "alpha1", "app", digest.FromString("l"), 1))
	del, err := s.DeleteRepository(ctx, "alpha1", "app")
	if err != nil {
		t.Fatal(err)
	}
	wantManifests := []string{m1.Digest.String(), m2.Digest.String()}
	slices.Sort(wantManifests)
	if !slices.Equal(del.Manifests, wantManifests) || !slices.Equal(del.Tags, []string{"a", "b"}) {
		t.Fatalf("deleted: %+v", del)
	}
	if ok, _ := s.RepositoryExists(ctx, "alpha1", "app"); ok {
		t.Fatal("repository still exists")
	}
	if _, err := s.BlobSize(ctx, "alpha1", "app", digest.FromString("l")); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("blob link survived: %v", err)
	}
	if _, err := s.GetManifest(ctx, "alpha1", "app2", m2.Digest); err != nil {
		t.Fatalf("another repository lost content: %v", err)
	}
	if _, err := s.DeleteRepository(ctx, "alpha1", "app"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// testGCSkipsLocked: a locked manifest is reported as such to the mark
// phase, and a sweep never deletes it, even when told to (a lock set after
// the mark); a sweep of a locked repository deletes nothing.
func testGCSkipsLocked(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	a, b := manifest("a"), manifest("b")
	must(t, s.PutManifest(ctx, "alpha1", "app", a))
	must(t, s.PutManifest(ctx, "alpha1", "app", b))
	c, err := s.RepositoryContent(ctx, "alpha1", "app")
	if err != nil || c.Locked {
		t.Fatalf("content: %+v %v", c, err)
	}
	must(t, second(s.SetManifestAttributes(ctx, "alpha1", "app", a.Digest, noDelete)))
	c2, _ := s.RepositoryContent(ctx, "alpha1", "app")
	for _, m := range c2.Manifests {
		if m.Locked != (m.Digest == a.Digest) {
			t.Fatalf("manifest %s locked %v", m.Digest, m.Locked)
		}
	}
	sw, err := s.SweepRepository(ctx, "alpha1", "app", c.Gen, []digest.Digest{a.Digest, b.Digest}, nil, time.Now())
	if err != nil || sw.Manifests != 1 {
		t.Fatalf("sweep: %+v %v", sw, err)
	}
	if _, err := s.GetManifest(ctx, "alpha1", "app", a.Digest); err != nil {
		t.Fatalf("the sweep deleted a locked manifest: %v", err)
	}
	must(t, s.PutManifest(ctx, "alpha1", "app", b))
	must(t, second(s.SetRepositoryAttributes(ctx, "alpha1", "app", noWrite)))
	c3, _ := s.RepositoryContent(ctx, "alpha1", "app")
	if !c3.Locked {
		t.Fatal("a write-locked repository is not reported locked")
	}
	if sw, err := s.SweepRepository(ctx, "alpha1", "app", c3.Gen, []digest.Digest{b.Digest}, nil, time.Now()); err != nil || sw.Manifests != 0 {
		t.Fatalf("sweep of a locked repository: %+v %v", sw, err)
	}
}

// testLockVsPush races pushes that move a tag against locking it: once the
// lock is in place, no push may move the tag any more, so the tag points
// where it pointed when SetTagAttributes returned.
func testLockVsPush(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	must(t, s.PutManifest(ctx, "alpha1", "app", manifest("0"), "v1"))
	stop := make(chan struct{})
	done := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				err := s.PutManifest(ctx, "alpha1", "app", manifest(fmt.Sprint(w, "-", i)), "v1")
				if err != nil && !errors.Is(err, meta.ErrLocked) {
					done <- err
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	locked, err := s.SetTagAttributes(ctx, "alpha1", "app", "v1", noWrite)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	for range 4 {
		must(t, <-done)
	}
	if now, _ := s.TagProperties(ctx, "alpha1", "app", "v1"); now.Digest != locked.Digest {
		t.Fatalf("a push moved the tag after it was locked: %s, locked at %s", now.Digest, locked.Digest)
	}
}
