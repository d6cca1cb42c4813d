package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/config"
)

// send makes one request and returns the status and body.
func send(t *testing.T, method, u, auth, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestGCWiring: the schedule runs (counted on /metrics) and the
// garbageCollect action answers through the management API.
func TestGCWiring(t *testing.T) {
	t.Setenv("MOAT_ADMIN_PASSWORD", "gc-password-1")
	data, metrics := freeAddr(t), freeAddr(t)
	srv := runServer(t, config.Config{DataDir: t.TempDir(), MetricsAddress: metrics,
		GC:        config.GC{Interval: "20ms", Grace: "0"},
		Listeners: []config.Listener{{Name: "default", Address: data, Kind: config.KindPublic}}})
	base := "http://" + data
	reg := base + "/subscriptions/" + srv.Subscription() + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/gcwiring"
	tok := loginToken(t, base, srv.Tenant(), "gc-password-1")
	call := func(method, u, body string) (int, []byte) {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		return send(t, method, u+sep+"api-version=2025-11-01", "Bearer "+tok, body)
	}
	if st, b := call(http.MethodPut, reg, `{"sku":{"name":"Premium"},"properties":{"policies":{"retentionPolicy":{"days":0,"status":"enabled"}}}}`); st != http.StatusCreated {
		t.Fatalf("create: %d %s", st, b)
	}
	st, b := call(http.MethodPost, reg+"/garbageCollect?dryRun=true", "")
	var out struct {
		Result struct {
			DryRun bool `json:"dryRun"`
		} `json:"result"`
		RetentionPolicy struct {
			Enabled bool `json:"enabled"`
		} `json:"retentionPolicy"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &out) != nil || !out.Result.DryRun || !out.RetentionPolicy.Enabled {
		t.Fatalf("garbageCollect: %d %s", st, b)
	}
	want := `moat_gc_runs_total{outcome="ok"}`
	deadline := time.Now().Add(10 * time.Second)
	body := ""
	for time.Now().Before(deadline) && !strings.Contains(body, want) {
		time.Sleep(20 * time.Millisecond)
		_, b := send(t, http.MethodGet, "http://"+metrics+"/metrics", "", "")
		body = string(b)
	}
	for _, m := range []string{want, `moat_gc_runs_total{outcome="dry-run"} 1`, "moat_gc_deleted_blobs_total", "moat_gc_freed_bytes_total", "moat_gc_expired_uploads_total"} {
		if !strings.Contains(body, m) {
			t.Fatalf("metrics lack %s:\n%.3000s", m, body)
		}
	}
}
