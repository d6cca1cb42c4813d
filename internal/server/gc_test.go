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

// TestGCWiring: the schedule runs (counted on /metrics) and the
// garbageCollect action answers through the management API.
func TestGCWiring(t *testing.T) {
	metrics := freeAddr(t)
	cfg := opsConfig(t, t.TempDir())
	cfg.MetricsAddress = metrics
	cfg.GC = config.GC{Interval: 20 * time.Millisecond, Grace: 0}
	e := startOps(t, cfg)
	reg := e.regPath("gcwiring")
	if st, b := e.mgmt(http.MethodPut, reg, `{"sku":{"name":"Premium"},"properties":{"policies":{"retentionPolicy":{"days":0,"status":"enabled"}}}}`); st != http.StatusCreated {
		t.Fatalf("create: %d %s", st, b)
	}
	st, b := e.mgmt(http.MethodPost, reg+"/garbageCollect?dryRun=true", "")
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
		if resp, err := http.Get("http://" + metrics + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
	}
	for _, m := range []string{want, `moat_gc_runs_total{outcome="dry-run"} 1`, "moat_gc_deleted_blobs_total", "moat_gc_freed_bytes_total", "moat_gc_expired_uploads_total"} {
		if !strings.Contains(body, m) {
			t.Fatalf("metrics lack %s:\n%.3000s", m, body)
		}
	}
}
