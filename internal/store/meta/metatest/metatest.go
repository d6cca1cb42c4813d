// Package metatest is the conformance suite every meta.Store must pass.
package metatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

// Run runs the suite against stores made by newStore (a fresh, empty store each call).
func Run(t *testing.T, newStore func(t *testing.T) meta.Store) {
	tests := map[string]func(*testing.T, meta.Store){
		"Registries":        testRegistries,
		"RegistryConflict":  testRegistryConflict,
		"Manifests":         testManifests,
		"Tags":              testTags,
		"TagPagination":     testTagPagination,
		"Repositories":      testRepositories,
		"Referrers":         testReferrers,
		"BlobLinks":         testBlobLinks,
		"Uploads":           testUploads,
		"RegistryIsolation": testIsolation,
		"DeleteRegistry":    testDeleteRegistry,
		"RegistryUID":       testRegistryUID,
		"Settings":          testSettings,
		"Resources":         testResources,
	}
	for name, fn := range gcTests {
		tests[name] = fn
	}
	for name, fn := range propTests {
		tests[name] = fn
	}
	for name, fn := range auditTests {
		tests[name] = fn
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) { fn(t, newStore(t)) })
	}
}

var ctx = context.Background()

func newRegistry(t testing.TB, s meta.Store, name string) {
	t.Helper()
	r := &meta.Registry{Key: name, Name: name, Subscription: "sub", ResourceGroup: "default", Location: "local",
		SKU: "Premium", Properties: []byte(`{"a":1}`), CreatedAt: time.Now()}
	if err := s.CreateRegistry(ctx, r); err != nil {
		t.Fatal(err)
	}
}

func manifest(s string) *meta.Manifest {
	c := []byte(`{"schemaVersion":2,"x":"` + s + `"}`)
	return &meta.Manifest{Digest: digest.FromBytes(c), MediaType: "application/vnd.oci.image.manifest.v1+json", Content: c}
}

func testRegistries(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	newRegistry(t, s, "beta12")
	if err := s.CreateRegistry(ctx, &meta.Registry{Key: "alpha1", Name: "ALPHA1"}); !errors.Is(err, meta.ErrExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	r, err := s.GetRegistry(ctx, "alpha1")
	if err != nil || r.SKU != "Premium" || string(r.Properties) != `{"a":1}` || r.Version != 1 {
		t.Fatalf("get: %+v %v", r, err)
	}
	if _, err := s.GetRegistry(ctx, "nope1"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	list, err := s.ListRegistries(ctx)
	if err != nil || len(list) != 2 || list[0].Key != "alpha1" {
		t.Fatalf("list: %v %v", list, err)
	}
	r.SKU = "Standard"
	if err := s.UpdateRegistry(ctx, r); err != nil || r.Version != 2 {
		t.Fatalf("update: %v version %d", err, r.Version)
	}
	if r2, _ := s.GetRegistry(ctx, "alpha1"); r2.SKU != "Standard" || r2.Version != 2 {
		t.Fatalf("after update: %+v", r2)
	}
}

func testRegistryConflict(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	a, _ := s.GetRegistry(ctx, "alpha1")
	b, _ := s.GetRegistry(ctx, "alpha1")
	if err := s.UpdateRegistry(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRegistry(ctx, b); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	if err := s.UpdateRegistry(ctx, &meta.Registry{Key: "nope1", Version: 1}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("update of missing registry: %v", err)
	}
}

func testManifests(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	m := manifest("one")
	m.Annotations = map[string]string{"k": "v"}
	if err := s.PutManifest(ctx, "alpha1", "app", m, "v1", "latest"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetManifest(ctx, "alpha1", "app", m.Digest)
	if err != nil || string(got.Content) != string(m.Content) || got.MediaType != m.MediaType || got.Annotations["k"] != "v" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if d, err := s.ResolveTag(ctx, "alpha1", "app", "latest"); err != nil || d != m.Digest {
		t.Fatalf("resolve: %v %v", d, err)
	}
	if _, err := s.GetManifest(ctx, "alpha1", "other", m.Digest); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("manifest visible in another repository: %v", err)
	}
	if err := s.DeleteManifest(ctx, "alpha1", "app", m.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolveTag(ctx, "alpha1", "app", "v1"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("tag survived its manifest: %v", err)
	}
	if err := s.DeleteManifest(ctx, "alpha1", "app", m.Digest); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testTags(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	m1, m2 := manifest("1"), manifest("2")
	s.PutManifest(ctx, "alpha1", "app", m1, "a")
	s.PutManifest(ctx, "alpha1", "app", m2, "a") // retag
	if d, _ := s.ResolveTag(ctx, "alpha1", "app", "a"); d != m2.Digest {
		t.Fatalf("retag: %s", d)
	}
	if err := s.DeleteTag(ctx, "alpha1", "app", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTag(ctx, "alpha1", "app", "a"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("delete missing tag: %v", err)
	}
	if _, err := s.GetManifest(ctx, "alpha1", "app", m2.Digest); err != nil {
		t.Fatalf("deleting a tag removed the manifest: %v", err)
	}
}

func testTagPagination(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	m := manifest("x")
	var want []string
	for i := range 25 {
		want = append(want, fmt.Sprintf("t%02d", i))
	}
	s.PutManifest(ctx, "alpha1", "app", m, want...)
	all, err := s.ListTags(ctx, "alpha1", "app", "", -1)
	if err != nil || !slices.Equal(all, want) {
		t.Fatalf("all tags: %v %v", all, err)
	}
	var paged []string
	last := ""
	for {
		page, err := s.ListTags(ctx, "alpha1", "app", last, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		last = page[len(page)-1]
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("paged: %v", paged)
	}
	if empty, err := s.ListTags(ctx, "alpha1", "none", "", 10); err != nil || len(empty) != 0 || empty == nil {
		t.Fatalf("tags of empty repository: %#v %v (want non-nil empty)", empty, err)
	}
}

func testRepositories(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	s.PutManifest(ctx, "alpha1", "b/two", manifest("1"))
	s.LinkBlob(ctx, "alpha1", "a/one", digest.FromString("x"), 1)
	repos, err := s.ListRepositories(ctx, "alpha1", "", -1)
	if err != nil || !slices.Equal(repos, []string{"a/one", "b/two"}) {
		t.Fatalf("repos: %v %v", repos, err)
	}
	if page, _ := s.ListRepositories(ctx, "alpha1", "a/one", 1); !slices.Equal(page, []string{"b/two"}) {
		t.Fatalf("page: %v", page)
	}
	if ok, err := s.RepositoryExists(ctx, "alpha1", "a/one"); !ok || err != nil {
		t.Fatalf("exists: %v %v", ok, err)
	}
	if ok, _ := s.RepositoryExists(ctx, "alpha1", "c"); ok {
		t.Fatal("missing repository exists")
	}
}

func testReferrers(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	subject := manifest("subject")
	s.PutManifest(ctx, "alpha1", "app", subject)
	sig, sbom := manifest("sig"), manifest("sbom")
	sig.Subject, sig.ArtifactType = subject.Digest, "application/vnd.example.sig"
	sbom.Subject, sbom.ArtifactType = subject.Digest, "application/vnd.example.sbom"
	sbom.Annotations = map[string]string{"org.example": "yes"}
	s.PutManifest(ctx, "alpha1", "app", sig)
	s.PutManifest(ctx, "alpha1", "app", sbom)
	all, err := s.Referrers(ctx, "alpha1", "app", subject.Digest, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("referrers: %v %v", all, err)
	}
	for _, d := range all {
		if d.Size == 0 || d.MediaType == "" || d.ArtifactType == "" {
			t.Fatalf("incomplete descriptor %+v", d)
		}
	}
	only, _ := s.Referrers(ctx, "alpha1", "app", subject.Digest, "application/vnd.example.sbom")
	if len(only) != 1 || only[0].Digest != sbom.Digest || only[0].Annotations["org.example"] != "yes" {
		t.Fatalf("filtered: %+v", only)
	}
	none, err := s.Referrers(ctx, "alpha1", "app", digest.FromString("nothing"), "")
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("no referrers: %#v %v (want non-nil empty)", none, err)
	}
	if other, _ := s.Referrers(ctx, "alpha1", "other", subject.Digest, ""); len(other) != 0 {
		t.Fatal("referrers leaked across repositories")
	}
}

func testBlobLinks(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	d := digest.FromString("blob")
	if _, err := s.BlobSize(ctx, "alpha1", "app", d); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("unlinked: %v", err)
	}
	s.LinkBlob(ctx, "alpha1", "app", d, 4)
	s.LinkBlob(ctx, "alpha1", "app", d, 4) // idempotent
	if n, err := s.BlobSize(ctx, "alpha1", "app", d); err != nil || n != 4 {
		t.Fatalf("size: %d %v", n, err)
	}
	if n, err := s.FindBlob(ctx, "alpha1", d); err != nil || n != 4 {
		t.Fatalf("find: %d %v", n, err)
	}
	if _, err := s.BlobSize(ctx, "alpha1", "other", d); !errors.Is(err, meta.ErrNotFound) {
		t.Fatal("blob visible in another repository")
	}
	if err := s.UnlinkBlob(ctx, "alpha1", "app", d); err != nil {
		t.Fatal(err)
	}
	if err := s.UnlinkBlob(ctx, "alpha1", "app", d); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("second unlink: %v", err)
	}
}

func testUploads(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	u := &meta.Upload{ID: "u1", Registry: "alpha1", Repository: "app", CreatedAt: time.Now()}
	if err := s.CreateUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUpload(ctx, "u1")
	if err != nil || got.Registry != "alpha1" || got.Repository != "app" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if n, err := s.CountUploads(ctx, "alpha1"); n != 1 || err != nil {
		t.Fatalf("count: %d %v", n, err)
	}
	s.DeleteUpload(ctx, "u1")
	if n, err := s.CountUploads(ctx, "alpha1"); n != 0 || err != nil {
		t.Fatalf("count after delete: %d %v", n, err)
	}
	if _, err := s.GetUpload(ctx, "u1"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("deleted upload: %v", err)
	}
}

func testIsolation(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	newRegistry(t, s, "beta12")
	m := manifest("secret")
	d := digest.FromString("layer")
	s.PutManifest(ctx, "alpha1", "app", m, "v1")
	s.LinkBlob(ctx, "alpha1", "app", d, 5)
	if _, err := s.GetManifest(ctx, "beta12", "app", m.Digest); !errors.Is(err, meta.ErrNotFound) {
		t.Fatal("manifest visible in another registry")
	}
	if _, err := s.ResolveTag(ctx, "beta12", "app", "v1"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatal("tag visible in another registry")
	}
	if _, err := s.FindBlob(ctx, "beta12", d); !errors.Is(err, meta.ErrNotFound) {
		t.Fatal("blob findable from another registry")
	}
	if repos, _ := s.ListRepositories(ctx, "beta12", "", -1); len(repos) != 0 {
		t.Fatalf("repositories leaked: %v", repos)
	}
}

func testDeleteRegistry(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	m := manifest("x")
	s.PutManifest(ctx, "alpha1", "app", m, "v1")
	if err := s.DeleteRegistry(ctx, "alpha1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRegistry(ctx, "alpha1"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	newRegistry(t, s, "alpha1")
	if _, err := s.GetManifest(ctx, "alpha1", "app", m.Digest); !errors.Is(err, meta.ErrNotFound) {
		t.Fatal("content of a deleted registry reappeared in a new one of the same name")
	}
}

// testRegistryUID: every registry gets an immutable ID at creation, kept by
// updates and lists, and a registry created again under the same name gets
// another one (tokens, audit and caches key on it, not on the name).
func testRegistryUID(t *testing.T, s meta.Store) {
	newRegistry(t, s, "alpha1")
	r, err := s.GetRegistry(ctx, "alpha1")
	if err != nil || len(r.UID) != 36 {
		t.Fatalf("get: UID %q %v", r.UID, err)
	}
	first := r.UID
	r.SKU = "Basic"
	if err := s.UpdateRegistry(ctx, r); err != nil || r.UID != first {
		t.Fatalf("update: %v, UID %q", err, r.UID)
	}
	if list, _ := s.ListRegistries(ctx); len(list) != 1 || list[0].UID != first {
		t.Fatalf("list: %+v", list)
	}
	if err := s.DeleteRegistry(ctx, "alpha1"); err != nil {
		t.Fatal(err)
	}
	newRegistry(t, s, "alpha1")
	if r, _ := s.GetRegistry(ctx, "alpha1"); r.UID == first || len(r.UID) != 36 {
		t.Fatalf("re-created registry UID %q, first was %q", r.UID, first)
	}
	given := &meta.Registry{Key: "beta12", Name: "beta12", UID: "11111111-2222-4333-8444-555555555555", CreatedAt: time.Now()}
	if err := s.CreateRegistry(ctx, given); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.GetRegistry(ctx, "beta12"); r.UID != given.UID {
		t.Fatalf("a given UID was not kept: %q", r.UID)
	}
}

func testSettings(t *testing.T, s meta.Store) {
	v, err := s.InitSetting(ctx, "subscription", "first")
	if err != nil || v != "first" {
		t.Fatalf("init: %q %v", v, err)
	}
	if v, _ := s.InitSetting(ctx, "subscription", "second"); v != "first" {
		t.Fatalf("second init replaced the value: %q", v)
	}
}

func testResources(t *testing.T, s meta.Store) {
	const vnet = "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/Corp"
	r := &meta.Resource{ID: vnet, Type: "Microsoft.Network/virtualNetworks", Body: []byte(`{"v":1}`)}
	if err := s.PutResource(ctx, r); err != nil || r.Version != 1 {
		t.Fatalf("create: %v version %d", err, r.Version)
	}
	if err := s.PutResource(ctx, &meta.Resource{ID: strings.ToLower(vnet), Type: r.Type, Body: []byte(`{}`)}); !errors.Is(err, meta.ErrExists) {
		t.Fatalf("create of an existing ID in other case: %v", err)
	}
	sub := &meta.Resource{ID: vnet + "/subnets/a", Type: "Microsoft.Network/virtualNetworks/subnets", Body: []byte(`{}`)}
	s.PutResource(ctx, sub)
	other := &meta.Resource{ID: vnet + "2", Type: r.Type, Body: []byte(`{}`)}
	s.PutResource(ctx, other)
	got, err := s.GetResource(ctx, strings.ToUpper(vnet))
	if err != nil || got.ID != vnet || string(got.Body) != `{"v":1}` {
		t.Fatalf("get: %+v %v", got, err)
	}
	stale := *got
	got.Body = []byte(`{"v":2}`)
	if err := s.PutResource(ctx, got); err != nil || got.Version != 2 {
		t.Fatalf("update: %v %d", err, got.Version)
	}
	if err := s.PutResource(ctx, &stale); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	list, err := s.ListResources(ctx, "microsoft.network/virtualnetworks", "/subscriptions/s/resourcegroups/rg/")
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := s.DeleteResource(ctx, vnet); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetResource(ctx, sub.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("child survived its parent: %v", err)
	}
	if _, err := s.GetResource(ctx, other.ID); err != nil {
		t.Fatalf("sibling with a common prefix was deleted: %v", err)
	}
	if err := s.DeleteResource(ctx, vnet); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
