package mgmt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/apiversion"
	"github.com/moat-registry/moat/internal/mgmt"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

// sub is the test server's one subscription.
const sub = "11111111-2222-3333-4444-555555555555"

// testLimits keep the quota tests small.
var testLimits = mgmt.Limits{IPRules: 3, VirtualNetworkRules: 2, PrivateEndpoints: 2}

// env is one management API over a fresh SQLite store, served in-process.
type env struct {
	srv *httptest.Server
}

// newEnv serves a management API; opts may complete the handler.
func newEnv(t testing.TB, opts ...func(*mgmt.Handler, *sqlite.Store)) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	idx, err := regindex.New(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	h := &mgmt.Handler{Meta: store, Index: idx, Subscription: sub, Location: "local", Limits: testLimits,
		LoginServer: func(r *http.Request, name string) string { return r.Host + "/" + strings.ToLower(name) }}
	for _, o := range opts {
		o(h, store)
	}
	if err := h.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux() // as the server routes them
	mux.Handle("/", h)
	mux.HandleFunc(mgmt.RunLogPrefix, h.RunLog)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{srv: srv}
}

// do sends one request and returns the status and the decoded JSON object
// (nil for an empty body). body is sent raw when a string or []byte, as JSON
// otherwise; hdr are header name/value pairs. No answer may ever be a 5xx.
func (e *env) do(t testing.TB, method, path string, body any, hdr ...string) (int, map[string]any) {
	t.Helper()
	status, m, _ := e.doH(t, method, path, body, hdr...)
	return status, m
}

// doH is do that also returns the response headers.
func (e *env) doH(t testing.TB, method, path string, body any, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	if !strings.Contains(path, "api-version=") {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "api-version=" + apiversion.ForClient(path)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: status %d (never a 5xx): %s", method, path, resp.StatusCode, raw)
	}
	var m map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: status %d, body is not a JSON object: %v: %s", method, path, resp.StatusCode, err, raw)
		}
	}
	return resp.StatusCode, m, resp.Header
}

// must is do that fails unless the status is want.
func (e *env) must(t testing.TB, want int, method, path string, body any, hdr ...string) map[string]any {
	t.Helper()
	status, m := e.do(t, method, path, body, hdr...)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, status, want, m)
	}
	return m
}

// wantErr checks an ARM error answer: status, code and message hints.
func wantErr(t testing.TB, status int, m map[string]any, wantStatus int, code string, hints ...string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status %d, want %d: %v", status, wantStatus, m)
	}
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no ARM error body {\"error\":{...}}: %v", m)
	}
	if e["code"] != code {
		t.Errorf("error code %v, want %s (message %q)", e["code"], code, e["message"])
	}
	msg, _ := e["message"].(string)
	if msg == "" {
		t.Errorf("empty error message")
	}
	for _, h := range hints {
		if !strings.Contains(msg, h) {
			t.Errorf("error message %q does not contain %q", msg, h)
		}
	}
}

// get walks a decoded JSON document: get(m, "properties", "ipRules", 0, "value").
func get(t testing.TB, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: not an object: %v", k, v)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at [%d]: not an array that long: %v", k, v)
			}
			v = a[k]
		}
	}
	return v
}

func length(t testing.TB, v any, path ...any) int {
	t.Helper()
	v = get(t, v, path...)
	if v == nil {
		return 0
	}
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("not an array: %v", v)
	}
	return len(a)
}

// Paths and IDs.

func rgPath(rg string) string { return "/subscriptions/" + sub + "/resourceGroups/" + rg }

func regPath(name string) string { return regPathIn("default", name) }

func regPathIn(rg, name string) string {
	return rgPath(rg) + "/providers/Microsoft.ContainerRegistry/registries/" + name
}

func vnetPath(name string) string { return vnetPathIn("default", name) }

func vnetPathIn(rg, name string) string {
	return rgPath(rg) + "/providers/Microsoft.Network/virtualNetworks/" + name
}

func subnetPath(vnet, subnet string) string { return vnetPath(vnet) + "/subnets/" + subnet }

func pePath(name string) string { return pePathIn("default", name) }

func pePathIn(rg, name string) string {
	return rgPath(rg) + "/providers/Microsoft.Network/privateEndpoints/" + name
}

func providerPath(ns string) string { return "/subscriptions/" + sub + "/providers/" + ns }

// Request bodies.

type obj = map[string]any

func registryBody(sku string, props obj) obj {
	b := obj{"location": "local", "sku": obj{"name": sku}}
	if props != nil {
		b["properties"] = props
	}
	return b
}

func ipRules(values ...string) []any {
	out := []any{}
	for _, v := range values {
		out = append(out, obj{"action": "Allow", "value": v})
	}
	return out
}

func ruleSet(defaultAction string, ips []any, vnetRules []any) obj {
	rs := obj{"defaultAction": defaultAction}
	if ips != nil {
		rs["ipRules"] = ips
	}
	if vnetRules != nil {
		rs["virtualNetworkRules"] = vnetRules
	}
	return obj{"networkRuleSet": rs}
}

func subnetBody(prefix string, endpoints ...string) obj {
	eps := []any{}
	for _, s := range endpoints {
		eps = append(eps, obj{"service": s})
	}
	return obj{"properties": obj{"addressPrefix": prefix, "serviceEndpoints": eps}}
}

func vnetBody(space []string, subnets ...obj) obj {
	props := obj{"addressSpace": obj{"addressPrefixes": space}}
	if subnets != nil {
		ss := []any{}
		for _, s := range subnets {
			ss = append(ss, s)
		}
		props["subnets"] = ss
	}
	return obj{"location": "local", "properties": props}
}

func namedSubnet(name, prefix string, endpoints ...string) obj {
	s := subnetBody(prefix, endpoints...)
	s["name"] = name
	return s
}

// peBody is a private endpoint in subnetID to registryID; manual asks for
// approval; ip ("" to allocate) is the private IP wanted.
func peBody(subnetID, registryID string, manual bool, ip string) obj {
	conn := []any{obj{"name": "conn", "properties": obj{"privateLinkServiceId": registryID, "groupIds": []string{"registry"}}}}
	props := obj{"subnet": obj{"id": subnetID}}
	if manual {
		props["manualPrivateLinkServiceConnections"] = conn
	} else {
		props["privateLinkServiceConnections"] = conn
	}
	if ip != "" {
		props["ipConfigurations"] = []any{obj{"name": "cfg", "properties": obj{"privateIPAddress": ip, "groupId": "registry", "memberName": "registry"}}}
	}
	return obj{"location": "local", "properties": props}
}

// Fixtures.

// createRegistry creates a registry in the default group.
func (e *env) createRegistry(t testing.TB, name, sku string) map[string]any {
	t.Helper()
	return e.must(t, http.StatusCreated, "PUT", regPath(name), registryBody(sku, nil))
}

// createVNet creates vnet 10.0.0.0/16 with subnet "s1" 10.0.1.0/24 (with the
// Microsoft.ContainerRegistry service endpoint) and "s2" 10.0.2.0/24 (without).
func (e *env) createVNet(t testing.TB, name string) {
	t.Helper()
	e.must(t, http.StatusCreated, "PUT", vnetPath(name), vnetBody([]string{"10.0.0.0/16"},
		namedSubnet("s1", "10.0.1.0/24", "Microsoft.ContainerRegistry"),
		namedSubnet("s2", "10.0.2.0/24")))
}
