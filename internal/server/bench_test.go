package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/reqlog"
	"github.com/opencontainers/go-digest"
)

// benchServer runs a whole moat server in-process. Every connection gets the
// public identity 20.199.1.2 (loopback cannot be named by an IP rule).
func benchServer(b *testing.B) (*httptest.Server, *Server) {
	b.Helper()
	b.Setenv("MOAT_ADMIN_PASSWORD", "bench-password-1")
	cfg := testConfig(b.TempDir())
	cfg.Listeners = []config.Listener{{Name: "x", Address: "127.0.0.1:0"}}
	srv, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return netid.With(ctx, netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("20.199.1.2")})
	}
	ts.Start()
	b.Cleanup(ts.Close)
	return ts, srv
}

func callWith(b *testing.B, method, url string, body any, hdr ...string) *http.Response {
	b.Helper()
	var rd *bytes.Reader
	switch v := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		raw, _ := json.Marshal(v)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, url, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		b.Fatalf("%s %s: %s", method, url, resp.Status)
	}
	return resp
}

// setupRegistry creates a registry with one tagged image; with rules it also
// gets default action Deny, 200 IP rules (the client allowed by the last) and
// 100 virtual-network rules.
func setupRegistry(b *testing.B, ts *httptest.Server, sub, tenant, name string, rules bool) string {
	mg := ts.URL + "/subscriptions/" + sub + "/resourceGroups/default/providers/"
	v := "?api-version=2025-11-01"
	form := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {"bench-password-1"}, "client_id": {"bench"}, "scope": {managementScope(b, ts.URL)}}
	resp, err := http.PostForm(ts.URL+"/identity/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		b.Fatal(err)
	}
	var idTok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&idTok)
	resp.Body.Close()
	call := func(b *testing.B, method, url string, body any) {
		b.Helper()
		callWith(b, method, url, body, "Authorization", "Bearer "+idTok.AccessToken)
	}
	reg := mg + "Microsoft.ContainerRegistry/registries/" + name
	reg += "?" + armVersion(reg)
	call(b, http.MethodPut, reg, map[string]any{"sku": map[string]string{"name": "Premium"}})
	if rules {
		var subnets []any
		var vnetRules, ipRules []map[string]string
		for i := range 100 {
			subnets = append(subnets, map[string]any{"name": fmt.Sprintf("s%d", i), "properties": map[string]any{
				"addressPrefix": fmt.Sprintf("10.0.%d.0/24", i), "serviceEndpoints": []map[string]string{{"service": "Microsoft.ContainerRegistry"}}}})
			vnetRules = append(vnetRules, map[string]string{"id": "/subscriptions/" + sub + "/resourceGroups/default/providers/Microsoft.Network/virtualNetworks/bench/subnets/" + fmt.Sprintf("s%d", i)})
		}
		call(b, http.MethodPut, mg+"Microsoft.Network/virtualNetworks/bench"+v, map[string]any{"properties": map[string]any{
			"addressSpace": map[string]any{"addressPrefixes": []string{"10.0.0.0/16"}}, "subnets": subnets}})
		for i := range 200 {
			ipRules = append(ipRules, map[string]string{"value": fmt.Sprintf("20.%d.0.0/16", i)})
		}
		call(b, http.MethodPatch, reg, map[string]any{"properties": map[string]any{
			"networkRuleSet": map[string]any{"defaultAction": "Deny", "ipRules": ipRules, "virtualNetworkRules": vnetRules}}})
	}
	// A token, then one image.
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/oauth2/token?scope=repository:"+name+"/app:pull,push", nil)
	req.SetBasicAuth("admin", "bench-password-1")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	auth := "Bearer " + tok.AccessToken
	cfg := []byte(`{}`)
	callWith(b, http.MethodPost, ts.URL+"/v2/"+name+"/app/blobs/uploads/?digest="+digest.FromBytes(cfg).String(), cfg, "Authorization", auth)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[]}`, digest.FromBytes(cfg))
	callWith(b, http.MethodPut, ts.URL+"/v2/"+name+"/app/manifests/v1", []byte(m), "Authorization", auth, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	return auth
}

// BenchmarkManifestHead compares manifest HEAD through the whole server (token
// check, network gate, handler, SQLite) with default Allow and with 200 IP
// rules and 100 virtual-network rules. Compare the two ns/op in one run.
func BenchmarkManifestHead(b *testing.B) {
	ts, srv := benchServer(b)
	for _, tc := range []struct {
		name  string
		rules bool
	}{{"default-allow", false}, {"200ip-100vnet-rules", true}} {
		reg := strings.ReplaceAll(tc.name, "-", "")[:12]
		auth := setupRegistry(b, ts, srv.Subscription(), srv.Tenant(), reg, tc.rules)
		url := ts.URL + "/v2/" + reg + "/app/manifests/v1"
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodHead, url, nil)
					req.Header.Set("Authorization", auth)
					resp, err := http.DefaultClient.Do(req)
					if err != nil || resp.StatusCode != http.StatusOK {
						b.Errorf("HEAD: %v %v", err, resp)
						return
					}
					resp.Body.Close()
				}
			})
		})
	}
}

// BenchmarkHandler is the data plane's per-request cost without a network:
// the server's handler (target resolution, observer, network gate, token
// check, handler, SQLite) called in-process with a public identity, as the
// listener attaches it. The request log is written as moat serve writes it
// (reqlog.Text), to a discard, so that its formatting still counts.
func BenchmarkHandler(b *testing.B) {
	ts, srv := benchServer(b)
	prev := slog.Default()
	slog.SetDefault(slog.New(reqlog.Text(slog.NewTextHandler(io.Discard, nil), io.Discard))) // as moat serve's
	b.Cleanup(func() { slog.SetDefault(prev) })
	id := netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("20.199.1.2")}
	for _, tc := range []struct {
		name  string
		rules bool
	}{{"head-default-allow", false}, {"head-200ip-100vnet-rules", true}} {
		reg := strings.ReplaceAll(tc.name, "-", "")[4:16]
		auth := setupRegistry(b, ts, srv.Subscription(), srv.Tenant(), reg, tc.rules)
		req := httptest.NewRequest(http.MethodHead, ts.URL+"/v2/"+reg+"/app/manifests/v1", nil) // the token is for this host
		req.Header.Set("Authorization", auth)
		req = req.WithContext(netid.With(req.Context(), id))
		h := srv.Handler()
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("HEAD: %d %s", w.Code, w.Body)
				}
			}
		})
	}
}
