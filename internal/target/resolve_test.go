package target

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

// snapshot has the registries Alpha (key alpha) and bravo, with host-style
// login servers <key>.reg.test:5000.
func snapshot(tb testing.TB) *regindex.Snapshot {
	tb.Helper()
	ctx := context.Background()
	m, err := sqlite.Open(filepath.Join(tb.TempDir(), "m.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	for _, name := range []string{"Alpha", "bravo"} {
		if err := m.CreateRegistry(ctx, &meta.Registry{Key: strings.ToLower(name), Name: name, Subscription: "s", ResourceGroup: "g", SKU: "Premium", CreatedAt: time.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
	idx, err := regindex.New(ctx, m)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := addressing.New(suffix, "5000")
	if err != nil {
		tb.Fatal(err)
	}
	idx.SetAddressing(a)
	return idx.Load()
}

func keys(regs []*regindex.Registry) string {
	var out []string
	for _, r := range regs {
		out = append(out, r.Key)
	}
	return strings.Join(out, ",")
}

func resolve(snap *regindex.Snapshot, r *http.Request) *Target {
	t := &Target{}
	Resolve(httptest.NewRecorder(), r, snap, t)
	return t
}

// TestResolveAddressing: every route kind in both addressing styles names
// the same registry the way clients mean it.
func TestResolveAddressing(t *testing.T) {
	snap := snapshot(t)
	const path, host = "127.0.0.1:5000", "alpha.reg.test:5000"
	for _, c := range []struct {
		host, path string
		kind       Kind
		regName    string
		regs       string // keys of Registries
		repo       string
		audience   string
	}{
		{path, "/v2/", KindPing, "", "", "", path},
		{host, "/v2/", KindPing, "alpha", "alpha", "", host},
		{"ALPHA.reg.test", "/v2/", KindPing, "alpha", "alpha", "", host}, // any port, or none, and any case
		{"nosuch.reg.test:5000", "/v2/", KindPing, "nosuch", "", "", "nosuch.reg.test:5000"},
		{path, "/v2/_catalog", KindCatalog, "", "", "", path},
		{path, "/v2/Alpha/_catalog", KindCatalog, "Alpha", "alpha", "", path},
		{host, "/v2/_catalog", KindCatalog, "alpha", "alpha", "", host},
		{path, "/v2/Alpha/team/app/tags/list", KindTags, "Alpha", "alpha", "team/app", path},
		{host, "/v2/team/app/tags/list", KindTags, "alpha", "alpha", "team/app", host},
		{path, "/v2/bravo/app/manifests/v1", KindManifest, "bravo", "bravo", "app", path},
		{host, "/v2/bravo/app/manifests/v1", KindManifest, "alpha", "alpha", "bravo/app", host}, // the Host wins
		{path, "/v2/alpha/app/blobs/sha256:00", KindBlob, "alpha", "alpha", "app", path},
		{path, "/v2/alpha/app/blobs/uploads/", KindUploadStart, "alpha", "alpha", "app", path},
		{path, "/v2/alpha/app/blobs/uploads/abc", KindUpload, "alpha", "alpha", "app", path},
		{path, "/v2/alpha/app/referrers/sha256:00", KindReferrers, "alpha", "alpha", "app", path},
		{path, "/v2/alpha/nothing", KindInvalid, "alpha", "alpha", "", path}, // the gate still decides for alpha
		{path, "/v2/nosuch/app/manifests/v1", KindManifest, "nosuch", "", "app", path},
		{path, "/acr/v1/_catalog", KindACRCatalog, "", "", "", path},
		{path, "/acr/v1/alpha/_catalog", KindACRCatalog, "alpha", "alpha", "", path},
		{host, "/acr/v1/_catalog", KindACRCatalog, "alpha", "alpha", "", host},
		{path, "/acr/v1/alpha/team/app", KindACRRepository, "alpha", "alpha", "team/app", path},
		{host, "/acr/v1/team/app", KindACRRepository, "alpha", "alpha", "team/app", host},
		{path, "/acr/v1/alpha/app/_tags", KindACRTags, "alpha", "alpha", "app", path},
		{host, "/acr/v1/app/_tags/v1", KindACRTag, "alpha", "alpha", "app", host},
		{path, "/acr/v1/bravo/app/_manifests", KindACRManifests, "bravo", "bravo", "app", path},
		{host, "/acr/v1/app/_manifests/sha256:00", KindACRManifest, "alpha", "alpha", "app", host},
		{path, "/acr/v1/alpha/app/_nothing", KindACRInvalid, "alpha", "alpha", "", path},
		{path, "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/Alpha/replications", KindManagement, "Alpha", "", "", path},
		{path, "/healthz", KindHealth, "", "", "", path},
		{path, "/identity/t/oauth2/v2.0/token", KindIdentity, "", "", "", path},
		{path, "/portal/", KindOther, "", "", "", path},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://x"+c.path, nil)
		r.Host = c.host
		tg := resolve(snap, r)
		if tg.Err != nil || tg.Kind != c.kind || tg.RegistryName != c.regName || keys(tg.Registries) != c.regs || tg.Repo != c.repo || tg.Audience != c.audience {
			t.Errorf("%s %s: kind %v registry %q %q repo %q audience %q err %v; want %v %q %q %q %q",
				c.host, c.path, tg.Kind, tg.RegistryName, keys(tg.Registries), tg.Repo, tg.Audience, tg.Err, c.kind, c.regName, c.regs, c.repo, c.audience)
		}
		if c.kind == KindManagement && (tg.Registry == nil || tg.Registry.Key != "alpha") {
			t.Errorf("%s: management registry %v", c.path, tg.Registry)
		}
	}
}

// TestSplit: a repository name elsewhere in the request (a scope, a mount's
// source) resolves the way the request's own does.
func TestSplit(t *testing.T) {
	snap := snapshot(t)
	r := httptest.NewRequest(http.MethodGet, "http://x/v2/", nil)
	r.Host = "127.0.0.1:5000"
	if reg, name, repo := resolve(snap, r).Split("Bravo/team/app"); reg == nil || reg.Key != "bravo" || name != "Bravo" || repo != "team/app" {
		t.Errorf("path style: %v %q %q", reg, name, repo)
	}
	r.Host = "alpha.reg.test"
	if reg, name, repo := resolve(snap, r).Split("bravo/app"); reg == nil || reg.Key != "alpha" || name != "alpha" || repo != "bravo/app" {
		t.Errorf("host style: %v %q %q", reg, name, repo)
	}
}

// TestOf: a target is read only by the request it was resolved for; an
// in-process request made with another request's context gets none.
func TestOf(t *testing.T) {
	snap := snapshot(t)
	r := Attach(httptest.NewRequest(http.MethodGet, "http://127.0.0.1:5000/v2/alpha/app/manifests/v1", nil), snap)
	if tg, ok := Of(r); !ok || tg.Registry == nil || tg.Registry.Key != "alpha" {
		t.Fatalf("Of: %v %v", tg, ok)
	}
	other, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://127.0.0.1:5000/v2/bravo/app/manifests/v1", nil)
	if _, ok := Of(other); ok {
		t.Fatal("a target was read by a request it was not resolved for")
	}
	moved := r.Clone(r.Context())
	moved.Host = "bravo.reg.test"
	if _, ok := Of(moved); ok {
		t.Fatal("a target was read by a request on another host")
	}
	if _, ok := Of(httptest.NewRequest(http.MethodGet, "/v2/", nil)); ok {
		t.Fatal("a target without resolution")
	}
}
