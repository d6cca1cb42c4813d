package regauth

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
	"github.com/moat-registry/moat/internal/target"
)

// newService builds a token service over a real store with registry "regone"
// and user alice (password "alice-password").
func newService(tb testing.TB) *Service {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	s, err := sqlite.Open(filepath.Join(dir, "m.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.CreateRegistry(ctx, &meta.Registry{Key: "regone", Name: "regone", Subscription: "s", ResourceGroup: "g", SKU: "Premium", CreatedAt: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	keys, err := token.OpenKeys(ctx, s)
	if err != nil {
		tb.Fatal(err)
	}
	d, err := identity.Open(ctx, s, "tenant")
	if err != nil {
		tb.Fatal(err)
	}
	d.Create(ctx, &identity.Principal{Kind: identity.KindUser, Name: "alice", Secrets: []identity.Secret{{ID: "p", Hash: identity.HashPassword("alice-password")}}})
	az, _ := rbac.NewAuthorizer(ctx, s)
	idx, _ := regindex.New(ctx, s)
	return &Service{Keys: keys, Dir: d, Authz: az, Index: idx,
		Lifetimes: Lifetimes{Access: time.Hour, Refresh: 3 * time.Hour}}
}

// FuzzTokenEndpoint sends arbitrary methods, Authorization headers, queries
// and form bodies to the token endpoints: never a 5xx, never a token for
// credentials that are not alice's.
func FuzzTokenEndpoint(f *testing.F) {
	svc := newService(f)
	f.Add("GET", "/oauth2/token", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:alice-password")), "scope=repository:regone/app:pull", "")
	f.Add("GET", "/oauth2/token", "Basic "+base64.StdEncoding.EncodeToString([]byte(ZeroUser+":x.y.z")), "", "")
	f.Add("POST", "/oauth2/token", "", "", "grant_type=password&username=alice&password=nope&scope=repository:regone/app:push")
	f.Add("POST", "/oauth2/exchange", "", "", "grant_type=access_token&access_token=eyJ")
	f.Add("GET", "/oauth2/token", "Basic !!!", "scope=%zz", "")
	f.Fuzz(func(t *testing.T, method, path, auth, query, body string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://127.0.0.1:5000"+path+"?"+query, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		target.Middleware(svc.Index, svc).ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		if w.Code == http.StatusOK && strings.Contains(w.Body.String(), "access_token") {
			user, pw, _ := req.BasicAuth()
			if user == "alice" && pw == "alice-password" || strings.Contains(body, "alice-password") {
				return
			}
			// Anonymous tokens are allowed but grant nothing here (no anonymous pull).
			if strings.Contains(w.Body.String(), `"refresh_token"`) {
				t.Fatalf("refresh token issued without alice's credentials: %q %q", auth, body)
			}
		}
	})
}

// BenchmarkAuthorize measures the data-plane token check: the first use of a
// token verifies its ES256 signature; later uses hit the verified-token cache.
func BenchmarkAuthorize(b *testing.B) {
	svc := newService(b)
	req := target.Attach(httptest.NewRequest(http.MethodGet, "http://127.0.0.1:5000/v2/regone/app/manifests/v1", nil), svc.Index.Load())
	alice, _ := svc.Dir.Find(identity.KindUser, "alice")
	reg, _ := svc.Index.Load().Lookup("regone")
	sign := func() string {
		tok, _, err := svc.sign(req, principalCaller(alice), token.KindAccess, []token.Access{{Type: "repository", Name: "regone/app", Actions: []string{"pull"}, Registry: reg.UID}}, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}
	needs := []token.Access{{Type: "repository", Name: "regone/app", Actions: []string{"pull"}}}
	b.Run("cached", func(b *testing.B) {
		req.Header.Set("Authorization", "Bearer "+sign())
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.Authorize(req, needs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify-signature", func(b *testing.B) {
		raw := sign()
		req.Header.Set("Authorization", "Bearer "+raw)
		b.ReportAllocs()
		for b.Loop() {
			svc.cache.m.Delete(raw)
			if _, err := svc.Authorize(req, needs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
