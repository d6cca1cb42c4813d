package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScalingReport: the scaling phase's files (scripts/bench names them
// scale-<clients>-<slice>-<head|transfer>-<server>.json) give each server's
// median per number of clients, moat's per-slice ratios, and the growth from
// 1 to 8 clients, in the report, its Markdown and summary.json.
func TestScalingReport(t *testing.T) {
	dir := t.TempDir()
	// At c clients the limit server does 1000·c HEAD/s (100·c MB/s push, 200·c
	// pull) and zot half of it; moat matches the limit server at 1 client and
	// falls to 0.5 of it at 8, by way of 0.9/1.1 in the two slices of 2 and 4.
	moatOverLimit := map[int][2]float64{1: {1, 1}, 2: {0.9, 1.1}, 4: {0.9, 1.1}, 8: {0.5, 0.5}}
	for c, moat := range moatOverLimit {
		for j := 1; j <= 2; j++ {
			for s, k := range map[string]float64{Limit: 1, Zot: 0.5, Moat: moat[j-1]} {
				v := float64(c) * k
				writeResult(t, dir, fmt.Sprintf("scale-%d-%d-head-%s.json", c, j, s),
					Result{ManifestHead: Requests{PerSecond: 1000 * v}, Settings: Settings{Duration: 2}})
				writeResult(t, dir, fmt.Sprintf("scale-%d-%d-transfer-%s.json", c, j, s),
					Result{Push: Transfer{MBps: 100 * v}, Pull: Transfer{MBps: 200 * v}, Settings: Settings{Blobs: 8, BlobBytes: 8 << 20}})
			}
		}
	}
	writeResult(t, dir, "scale-x-1-head-moat.json", Result{}) // not a scaling file: ignored

	r, err := LoadReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	sc := r.Scaling
	if sc == nil {
		t.Fatal("no scaling in the report")
	}
	if fmt.Sprint(sc.Clients) != "[1 2 4 8]" || sc.Slices != 2 || sc.Blobs != 8 || sc.BlobBytes != 8<<20 || sc.HeadSeconds != 2 {
		t.Errorf("clients %v, slices %d, blobs %d × %d, HEAD %v s", sc.Clients, sc.Slices, sc.Blobs, sc.BlobBytes, sc.HeadSeconds)
	}
	head := sc.Figures["head"]
	if head == nil || len(head.Levels) != 4 {
		t.Fatalf("head figure %+v", head)
	}
	if l := head.Levels[1]; l.Clients != 2 || l.Median[Limit] != 2000 || l.Median[Moat] != 2000 ||
		fmt.Sprint(l.Ratios.PerSlice["moat/limit"]) != "[0.9 1.1]" || l.Ratios.Median["moat/zot"] != 2 {
		t.Errorf("2 clients: %+v", l)
	}
	// moat: 1000 -> 4000 HEAD/s (×4), the limit server 1000 -> 8000 (×8), zot ×8.
	if g := head.Growth; g[Moat] != 4 || g[Limit] != 8 || g[Zot] != 8 {
		t.Errorf("HEAD growth %v", g)
	}
	if g := sc.Figures["pull"].Growth; g[Moat] != 4 || sc.Figures["push"].Levels[3].Median[Moat] != 400 {
		t.Errorf("pull growth %v, push at 8 clients %v", g, sc.Figures["push"].Levels[3].Median)
	}

	var md bytes.Buffer
	r.Markdown(&md)
	for _, want := range []string{
		"2 slice(s) per number of clients", "HEAD slices of 2 s, transfer slices of 8 × 8 MiB blobs",
		"| manifest HEAD (requests/s), clients | moat | limit | zot | moat/limit | moat/zot |",
		"| 1 | 1000 | 1000 | 500 | **1.00** (1.00, 1.00) | **2.00** (2.00, 2.00) |",
		"| 2 | 2000 | 2000 | 1000 | **1.00** (0.90, 1.10) | **2.00** (1.80, 2.20) |",
		"| 8 | 4000 | 8000 | 4000 | **0.50** (0.50, 0.50) | **1.00** (1.00, 1.00) |",
		"From 1 to 8 clients, manifest HEAD grows ×4.00 on moat, ×8.00 on the limit server and ×8.00 on zot; moat/limit goes from 1.00 to 0.50.",
		"| blob push (MB/s), clients |", "| 8 | 400 | 800 | 400 |",
		"| blob pull (MB/s), clients |", "From 1 to 8 clients, blob pull grows ×4.00 on moat",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}

	raw, _ := json.Marshal(r)
	var summary struct {
		Scaling struct {
			Figures map[string]struct {
				Growth map[string]float64 `json:"growth"`
			} `json:"figures"`
		} `json:"scaling"`
	}
	if err := json.Unmarshal(raw, &summary); err != nil || summary.Scaling.Figures["push"].Growth[Limit] != 8 {
		t.Errorf("summary.json scaling: %s (%v)", raw, err)
	}
}

// TestScalingReportAbsent: without the phase's files (BENCH_SCALING=0) the
// report has no scaling section.
func TestScalingReportAbsent(t *testing.T) {
	dir := t.TempDir()
	writeResult(t, dir, "head-1-moat.json", Result{ManifestHead: Requests{PerSecond: 10}})
	r, err := LoadReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	r.Markdown(&md)
	if r.Scaling != nil || strings.Contains(md.String(), "Scaling") {
		t.Errorf("scaling %+v in a run without the phase:\n%s", r.Scaling, md.String())
	}
	if raw, _ := json.Marshal(r); strings.Contains(string(raw), `"scaling"`) {
		t.Errorf("summary.json has scaling: %s", raw)
	}
}

// TestScalingReportBadFile: a scaling file that is not a result is an error
// naming it, not a figure of 0.
func TestScalingReportBadFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "scale-1-1-head-moat.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadReport(dir); err == nil || !strings.Contains(err.Error(), "scale-1-1-head-moat.json") {
		t.Errorf("LoadReport: %v", err)
	}
}
