package server

import (
	"net/http"
	"strings"
	"testing"
)

// TestImportOnlyFromThisServer: an import naming a foreign host or an
// unknown registry is refused with a 400 that says why; moat never fetches
// from another server (the runner dials only its own listener, see
// tasks.TestEndpointDialsOnlyTheServer).
func TestImportOnlyFromThisServer(t *testing.T) {
	e := startOps(t, opsConfig(t, t.TempDir()))
	if st, body := e.mgmt(http.MethodPut, e.regPath("ssrf1reg"), `{"location":"local","sku":{"name":"Premium"}}`); st >= 300 {
		t.Fatalf("create: %d %s", st, body)
	}
	for _, body := range []string{
		`{"source":{"registryUri":"169.254.169.254","sourceImage":"latest/meta-data:x"},"targetTags":["x:1"]}`,
		`{"source":{"sourceImage":"evil.example:8080/nothere/app:1"},"targetTags":["x:1"]}`,
		`{"source":{"sourceImage":"127.0.0.1:22/../../etc/passwd:1"},"targetTags":["x:1"]}`,
	} {
		st, out := e.mgmt(http.MethodPost, e.regPath("ssrf1reg")+"/importImage", body)
		if st != http.StatusBadRequest || !strings.Contains(string(out), "InvalidParameter") {
			t.Errorf("import %s: %d %s, want 400 InvalidParameter", body, st, out)
		}
	}
}
