package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestImportHonoursLocks: moat acr import writes through the data plane, so
// a locked target tag stops it, even with Force, until it is unlocked
// through /acr/v1/.
func TestImportHonoursLocks(t *testing.T) {
	e := newBypassEnv(t)
	e.srv.SetRunnerEndpoint("http", e.host())
	e.admin(http.MethodPut, e.mgmt+"Microsoft.ContainerRegistry/registries/basereg", `{"sku":{"name":"Premium"}}`)
	e.admin(http.MethodPut, e.mgmt+"Microsoft.ContainerRegistry/registries/appsreg", `{"sku":{"name":"Premium"}}`)
	e.pushImage("basereg/node", "15-alpine")
	e.pushImage("appsreg/node", "v1")
	imp := e.mgmt + "Microsoft.ContainerRegistry/registries/appsreg/importImage"
	body := `{"source":{"sourceImage":"` + e.host() + `/basereg/node:15-alpine"},"targetTags":["node:v1"],"mode":"Force"}`
	patch := func(writeEnabled bool) {
		req, _ := http.NewRequest(http.MethodPatch, e.ts.URL+"/acr/v1/appsreg/node/_tags/v1", strings.NewReader(fmt.Sprintf(`{"writeEnabled":%v}`, writeEnabled)))
		req.Header.Set("Authorization", "Bearer "+e.registryToken("repository:appsreg/node:metadata_write"))
		req.Header.Set("Content-Type", "application/json")
		if st, b := e.doJSON(req, nil); st != http.StatusOK {
			t.Fatalf("PATCH tag: %d %s", st, b)
		}
	}
	patch(false)
	if st, out := e.adminJSON(http.MethodPost, imp, body); st == http.StatusOK || !strings.Contains(fmt.Sprint(out), "REGISTRY_DISALLOWED_OPERATION") {
		t.Fatalf("import onto a locked tag: %d %v", st, out)
	}
	patch(true)
	if st, out := e.adminJSON(http.MethodPost, imp, body); st != http.StatusOK {
		t.Fatalf("import after unlocking: %d %v", st, out)
	}
}
