package mgmt_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moat-registry/moat/internal/mgmt"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

// TestMetadata: what `az cloud register --endpoint-resource-manager` reads
// (?api-version=2015-01-01: graphEndpoint, authentication.loginEndpoint and
// audiences[0]), and the list of clouds of 2019-05-01.
func TestMetadata(t *testing.T) {
	h := &mgmt.Handler{Tenant: "t1", ZoneSuffix: "registry.example"}
	get := func(version string) any {
		t.Helper()
		rec := httptest.NewRecorder()
		h.Metadata(rec, httptest.NewRequest(http.MethodGet, "https://moat.example:8443/metadata/endpoints?api-version="+version, nil))
		var v any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			t.Fatalf("%s: %d %s", version, rec.Code, rec.Body)
		}
		return v
	}
	doc := get("2015-01-01").(map[string]any)
	const base = "https://moat.example:8443"
	if doc["graphEndpoint"] != base+"/graph/" || doc["resourceManager"] != base+"/" || doc["name"] != "moat" {
		t.Errorf("endpoints %v", doc)
	}
	auth := doc["authentication"].(map[string]any)
	if auth["loginEndpoint"] != base+"/adfs" || auth["audiences"].([]any)[0] != base+"/" || auth["tenant"] != "t1" {
		t.Errorf("authentication %v", auth)
	}
	if s := doc["suffixes"].(map[string]any); s["acrLoginServer"] != "registry.example" {
		t.Errorf("suffixes %v", s)
	}
	list, ok := get("2019-05-01").([]any)
	if !ok || len(list) != 1 || list[0].(map[string]any)["name"] != "moat" {
		t.Errorf("2019-05-01: %v", list)
	}
}

func TestTenantsAndSubscription(t *testing.T) {
	e := newEnv(t, func(h *mgmt.Handler, _ *sqlite.Store) { h.Tenant = "tenant-1" })
	m := e.must(t, http.StatusOK, "GET", "/tenants?api-version=2019-11-01", nil)
	if ts := m["value"].([]any); len(ts) != 1 || get(t, ts[0], "tenantId") != "tenant-1" || get(t, ts[0], "id") != "/tenants/tenant-1" {
		t.Errorf("tenants %v", m)
	}
	s := e.must(t, http.StatusOK, "GET", "/subscriptions/"+sub+"?api-version=2019-11-01", nil)
	if s["tenantId"] != "tenant-1" || s["state"] != "Enabled" || s["managedByTenants"] == nil {
		t.Errorf("subscription %v", s)
	}
	status, body := e.do(t, "POST", "/tenants?api-version=2019-11-01", nil)
	wantErr(t, status, body, http.StatusMethodNotAllowed, "MethodNotAllowed")
}
