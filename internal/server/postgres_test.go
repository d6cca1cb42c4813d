package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/store/meta/postgres/pgtest"
	"github.com/opencontainers/go-digest"
)

// TestServerOnPostgres: a server whose metadata is in PostgreSQL serves the
// management API and the data plane, and a second node on the same database
// sees the content.
func TestServerOnPostgres(t *testing.T) {
	dsn := pgtest.SchemaDSN(t)
	t.Setenv("MOAT_ADMIN_PASSWORD", "pg-password-1")
	blobs := t.TempDir() // shared by both nodes, standing in for S3
	start := func() (*Server, *httptest.Server) {
		cfg := testConfig(blobs)
		cfg.Postgres = dsn
		srv, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewUnstartedServer(srv.Handler())
		ts.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
			return netid.With(ctx, netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("203.0.113.5")})
		}
		ts.Start()
		t.Cleanup(func() { ts.Close(); srv.Close() })
		return srv, ts
	}
	srv1, ts1 := start()
	admin := loginToken(t, ts1.URL, srv1.Tenant(), "pg-password-1")
	do := func(ts *httptest.Server, method, path, auth, ctype string, body []byte) (int, []byte) {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(string(body)))
		req.Header.Set("Authorization", auth)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	regPath := "/subscriptions/" + srv1.Subscription() + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/pgreg1?api-version=2025-11-01"
	if st, b := do(ts1, http.MethodPut, regPath, "Bearer "+admin, "application/json", []byte(`{"sku":{"name":"Premium"}}`)); st != http.StatusCreated {
		t.Fatalf("create registry: %d %s", st, b)
	}
	token := func(ts *httptest.Server) string {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/oauth2/token?scope=repository:pgreg1/app:pull,push", nil)
		req.SetBasicAuth("admin", "pg-password-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		return "Bearer " + out.AccessToken
	}
	auth := token(ts1)
	cfg := []byte(`{}`)
	if st, b := do(ts1, http.MethodPost, "/v2/pgreg1/app/blobs/uploads/?digest="+digest.FromBytes(cfg).String(), auth, "", cfg); st != http.StatusCreated {
		t.Fatalf("push blob: %d %s", st, b)
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[]}`, digest.FromBytes(cfg))
	if st, b := do(ts1, http.MethodPut, "/v2/pgreg1/app/manifests/v1", auth, "application/vnd.oci.image.manifest.v1+json", []byte(m)); st != http.StatusCreated {
		t.Fatalf("push manifest: %d %s", st, b)
	}
	// A second node on the same database and blob storage serves it.
	_, ts2 := start()
	auth2 := token(ts2)
	if st, b := do(ts2, http.MethodGet, "/v2/pgreg1/app/manifests/v1", auth2, "", nil); st != http.StatusOK || string(b) != m {
		t.Fatalf("pull through the second node: %d %s", st, b)
	}
	if st, b := do(ts2, http.MethodGet, "/v2/pgreg1/app/tags/list", auth2, "", nil); st != http.StatusOK || !strings.Contains(string(b), `"v1"`) {
		t.Fatalf("tags through the second node: %d %s", st, b)
	}

	// A network rule changed through node 1 is in force on node 2 (the change
	// feed); the bound here only stops a broken feed from hanging the test.
	if st, b := do(ts1, http.MethodPatch, regPath, "Bearer "+admin, "application/json", []byte(`{"properties":{"networkRuleSet":{"defaultAction":"Deny"}}}`)); st != http.StatusOK {
		t.Fatalf("deny: %d %s", st, b)
	}
	changed := time.Now()
	for {
		st, b := do(ts2, http.MethodGet, "/v2/pgreg1/app/tags/list", auth2, "", nil)
		if st == http.StatusForbidden && strings.Contains(string(b), "not allowed access") {
			t.Logf("rule change seen by the second node after %v", time.Since(changed))
			break
		}
		if time.Since(changed) > 10*time.Second {
			t.Fatalf("the second node still serves after a rule change on the first: %d %s", st, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
