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

func writeResult(t *testing.T, dir, name string, r Result) {
	t.Helper()
	raw, _ := json.Marshal(r)
	if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReport: medians per server and moat's ratios slice by slice, from
// files named as scripts/bench names them.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	// speed of each server in slice i: moat is 2x limit in slices 1 and 3, 0.5x in 2.
	speed := map[string]float64{Limit: 100, LimitFsync: 80, Zot: 50, Distribution: 25, MoatS3: 0, MinIODirect: 0}
	for i := 1; i <= 3; i++ {
		moat := 200.0
		if i == 2 {
			moat = 50
		}
		for s, v := range speed {
			if s == MoatS3 {
				v = moat * 0.8
			}
			r := Result{Push: Transfer{MBps: v}, Pull: Transfer{MBps: 2 * v}, ManifestHead: Requests{PerSecond: 10 * v}}
			if s == MinIODirect { // in transfer slices only: 320, 100, 400 MB/s push
				r = Result{Push: Transfer{MBps: []float64{320, 100, 400}[i-1]}, Pull: Transfer{MBps: 1000}}
				writeResult(t, dir, fmt.Sprintf("transfer-%d-%s.json", i, s), r)
				continue
			}
			writeResult(t, dir, fmt.Sprintf("transfer-%d-%s.json", i, s), r)
			writeResult(t, dir, fmt.Sprintf("head-%d-%s.json", i, s), r)
		}
		r := Result{Push: Transfer{MBps: moat}, Pull: Transfer{MBps: 2 * moat}, ManifestHead: Requests{PerSecond: 10 * moat, P50ms: 1, P99ms: 3},
			Token: &Requests{PerSecond: float64(1000 * i), P99ms: 9}, TokenExchange: &Requests{PerSecond: 500, P99ms: 4},
			Settings: Settings{Blobs: 16, BlobBytes: 32 << 20, Concurrency: 4, HeadConc: 16}}
		for _, kind := range []string{"transfer", "head", "round"} {
			writeResult(t, dir, fmt.Sprintf("%s-%d-%s.json", kind, i, Moat), r)
		}
		writeResult(t, dir, fmt.Sprintf("round-%d-%s.json", i, Limit), Result{ImagePull: ImagePull{MBps: 7}})
	}
	writeResult(t, dir, "memory-8-moat.json", Result{Memory: &Memory{IdleMiB: 40, PushAbove: 3.5, PullAbove: -1},
		Push: Transfer{MBps: 300}, Pull: Transfer{MBps: 900}})
	os.WriteFile(filepath.Join(dir, "run.json"), []byte(`{"commit":"abc","load_before":"1.00 2.00 3.00","registries":1000,"idle_rss_mib":61.5}`), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.json"), []byte(`not a result`), 0o644) // ignored

	r, err := LoadReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Push.PerSlice["moat/limit"]; fmt.Sprint(got) != "[2 0.5 2]" || r.Push.Median["moat/limit"] != 2 {
		t.Errorf("push moat/limit per slice %v, median %v", got, r.Push.Median["moat/limit"])
	}
	if r.Head.Median["moat/zot"] != 4 || r.Push.Median["moats3/moat"] != 0.8 || r.Medians["push"][Moat] != 200 {
		t.Errorf("head moat/zot %v, S3 %v, moat push median %v", r.Head.Median["moat/zot"], r.Push.Median["moats3/moat"], r.Medians["push"][Moat])
	}
	// MinIO direct over the filesystem 1.6, 2, 2; moat on S3 over MinIO direct 0.5, 0.4, 0.4.
	if fmt.Sprint(r.Push.PerSlice["minio/moat"]) != "[1.6 2 2]" || r.Push.Median["moats3/minio"] != 0.4 || r.Medians["push"][MinIODirect] != 320 {
		t.Errorf("MinIO direct: over moat %v, moat on S3 over it %v, median push %v",
			r.Push.PerSlice["minio/moat"], r.Push.PerSlice["moats3/minio"], r.Medians["push"][MinIODirect])
	}
	if f := r.Rounds[Moat]; f.Token != 2000 || f.TokenP99 != 9 || f.Exchange != 500 || r.NRounds != 3 {
		t.Errorf("round medians %+v of %d rounds", f, r.NRounds)
	}
	var md bytes.Buffer
	r.Markdown(&md)
	for _, want := range []string{"commit abc", "1.00 2.00 3.00", "| blob push | **2.00** (2.00, 0.50, 2.00) |",
		"Basic credentials 2000 requests/s", "idle with 1000 registries 61.50 MiB", "8 concurrent client(s) (8 × 512 MiB): idle 40.00 MiB, peak above it 3.50 MiB during the push (300 MB/s) and -1.00 MiB during the pull (900 MB/s)",
		"S3 (moat on MinIO on this host) over the filesystem, blob push: **0.80**",
		"over moat on the filesystem, push: **2.00** (1.60, 2.00, 2.00)", "moat on S3 over MinIO direct, push: **0.40** (0.50, 0.40, 0.40)"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
}

// TestReportS3Slices: with s3slice-* files, the S3 ratios come from them
// (moat on the filesystem as run in those slices), not from the transfer slices.
func TestReportS3Slices(t *testing.T) {
	dir := t.TempDir()
	for i := 1; i <= 3; i++ {
		for s, v := range map[string]float64{Limit: 100, Moat: 90, MoatS3: 1, MinIODirect: 1} {
			writeResult(t, dir, fmt.Sprintf("transfer-%d-%s.json", i, s), Result{Push: Transfer{MBps: v}, Pull: Transfer{MBps: v}})
		}
		for s, v := range map[string]float64{Moat: 200, MoatS3: 100, MinIODirect: []float64{150, 160, 170}[i-1]} {
			writeResult(t, dir, fmt.Sprintf("s3slice-%d-%s.json", i, s), Result{Push: Transfer{MBps: v}, Pull: Transfer{MBps: v}})
		}
	}
	r, err := LoadReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Push.Median["moat/limit"] != 0.9 || r.Medians["push"][Moat] != 90 {
		t.Errorf("filesystem: moat/limit %v, moat median %v; want 0.9 and 90 from the transfer slices", r.Push.Median["moat/limit"], r.Medians["push"][Moat])
	}
	if r.Push.Median["moats3/moat"] != 0.5 || fmt.Sprint(r.Push.PerSlice["minio/moat"]) != "[0.75 0.8 0.85]" || r.Medians["push"][MoatS3Ref] != 200 || r.Medians["push"][MinIODirect] != 160 {
		t.Errorf("S3: moats3/moat %v, minio/moat %v, reference %v, MinIO median %v", r.Push.Median["moats3/moat"],
			r.Push.PerSlice["minio/moat"], r.Medians["push"][MoatS3Ref], r.Medians["push"][MinIODirect])
	}
	var md bytes.Buffer
	r.Markdown(&md)
	if want := "Medians: S3 push 100 MB/s, filesystem 200."; !strings.Contains(md.String(), want) {
		t.Errorf("markdown lacks %q:\n%s", want, md.String())
	}
}
