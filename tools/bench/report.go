package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The servers scripts/bench compares, as its result files name them.
const (
	Limit        = "limit"
	LimitFsync   = "limitfsync"
	Moat         = "moat"
	MoatS3       = "moats3"
	Zot          = "zot"
	Distribution = "distribution"
	// MinIODirect is moat-bench s3-direct: the blobs straight into the
	// MinIO that moats3 uses, with no registry in between.
	MinIODirect = "minio"
	// MoatS3Ref names, among the slice medians, moat on the filesystem in the
	// S3 slices (s3slice-*, where it is named moat): what S3 is compared with.
	MoatS3Ref = "moats3fs"
)

// RunInfo describes one scripts/bench invocation (run.json, written by the script).
type RunInfo struct {
	Started    string         `json:"started"`
	Commit     string         `json:"commit"`
	LoadBefore string         `json:"load_before"`
	LoadAfter  string         `json:"load_after"`
	Machine    map[string]any `json:"machine"`
	// Registries is how many registries moat had when IdleRSSMiB was read
	// (BENCH_MEMORY=1); 0 when memory was not measured.
	Registries int     `json:"registries,omitempty"`
	IdleRSSMiB float64 `json:"idle_rss_mib,omitempty"`
}

// Report is what one run measured: medians per server, and moat's ratios as
// medians of per-slice ratios (each slice runs the servers one after the
// other, so a ratio compares them under the same background load).
type Report struct {
	Run      RunInfo                       `json:"run"`
	NRounds  int                           `json:"rounds"`
	Settings Settings                      `json:"settings"`
	Rounds   map[string]Figures            `json:"round_medians"`
	Head     SliceRatios                   `json:"head_slices"`
	Push     SliceRatios                   `json:"push_slices"`
	Pull     SliceRatios                   `json:"pull_slices"`
	Memory   map[string]*Memory            `json:"memory,omitempty"` // clients -> figures
	MemoryMB map[string][2]float64         `json:"memory_push_pull_mb_per_s,omitempty"`
	Medians  map[string]map[string]float64 `json:"slice_medians"` // head|push|pull -> server -> median
	Scaling  *Scaling                      `json:"scaling,omitempty"`
}

// Figures are one server's medians over the rounds.
type Figures struct {
	Push, Pull, Head, HeadP50, HeadP99, ImagePull float64
	Token, TokenP50, TokenP99                     float64 `json:",omitempty"`
	Exchange, ExchangeP50, ExchangeP99            float64 `json:",omitempty"`
}

// SliceRatios are moat's ratios to each other server, slice by slice, and
// their medians. "moats3/moat" is the S3 store against the filesystem,
// "minio/moat" the same blobs straight into MinIO against the filesystem (the
// ceiling of the former on this host), "moats3/minio" moat's share of it.
type SliceRatios struct {
	PerSlice map[string][]float64 `json:"per_slice"`
	Median   map[string]float64   `json:"median"`
}

var resultName = regexp.MustCompile(`^(round|head|transfer|s3slice|memory)-(\d+)-([a-z0-9]+)\.json$`)

// LoadReport reads a result directory of scripts/bench.
func LoadReport(dir string) (*Report, error) {
	r := &Report{Rounds: map[string]Figures{}, Memory: map[string]*Memory{}, MemoryMB: map[string][2]float64{},
		Medians: map[string]map[string]float64{}}
	if raw, err := os.ReadFile(filepath.Join(dir, "run.json")); err == nil {
		if err := json.Unmarshal(raw, &r.Run); err != nil {
			return nil, fmt.Errorf("run.json: %w", err)
		}
	}
	// kind -> index -> server -> result
	got := map[string]map[int]map[string]*Result{}
	err := eachResult(dir, resultName, func(m []string, res *Result) {
		i, _ := strconv.Atoi(m[2])
		if got[m[1]] == nil {
			got[m[1]] = map[int]map[string]*Result{}
		}
		if got[m[1]][i] == nil {
			got[m[1]][i] = map[string]*Result{}
		}
		got[m[1]][i][m[3]] = res
		if m[1] == "round" && m[3] == Moat {
			r.Settings = res.Settings
		}
		if m[1] == "memory" && res.Memory != nil {
			r.Memory[m[2]] = res.Memory
			r.MemoryMB[m[2]] = [2]float64{res.Push.MBps, res.Pull.MBps}
		}
	})
	if err != nil {
		return nil, err
	}
	r.Rounds, r.NRounds = roundMedians(got["round"]), len(got["round"])
	r.Head, r.Medians["head"] = slicesOf(got["head"], func(x *Result) float64 { return x.ManifestHead.PerSecond })
	push := func(x *Result) float64 { return x.Push.MBps }
	pull := func(x *Result) float64 { return x.Pull.MBps }
	r.Push, r.Medians["push"] = slicesOf(got["transfer"], push)
	r.Pull, r.Medians["pull"] = slicesOf(got["transfer"], pull)
	// The S3 comparisons run in slices of their own (moat on the filesystem,
	// moat on S3, MinIO direct), after the filesystem servers' transfer
	// slices: MinIO's background work then never runs during those pushes.
	if s3 := got["s3slice"]; len(s3) > 0 {
		withS3(&r.Push, r.Medians["push"], s3, push)
		withS3(&r.Pull, r.Medians["pull"], s3, pull)
	}
	if r.Scaling, err = LoadScaling(dir); err != nil {
		return nil, err
	}
	return r, nil
}

func roundMedians(rounds map[int]map[string]*Result) map[string]Figures {
	by := map[string][]*Result{}
	for _, servers := range rounds {
		for s, res := range servers {
			by[s] = append(by[s], res)
		}
	}
	out := map[string]Figures{}
	for s, rs := range by {
		f := func(g func(*Result) float64) float64 {
			var v []float64
			for _, x := range rs {
				v = append(v, g(x))
			}
			return median(v)
		}
		req := func(g func(*Result) *Requests, h func(*Requests) float64) float64 {
			return f(func(x *Result) float64 {
				if r := g(x); r != nil {
					return h(r)
				}
				return 0
			})
		}
		tok := func(x *Result) *Requests { return x.Token }
		exc := func(x *Result) *Requests { return x.TokenExchange }
		rps := func(r *Requests) float64 { return r.PerSecond }
		p50 := func(r *Requests) float64 { return r.P50ms }
		p99 := func(r *Requests) float64 { return r.P99ms }
		out[s] = Figures{
			Push: f(func(x *Result) float64 { return x.Push.MBps }), Pull: f(func(x *Result) float64 { return x.Pull.MBps }),
			Head: f(func(x *Result) float64 { return x.ManifestHead.PerSecond }), HeadP50: f(func(x *Result) float64 { return x.ManifestHead.P50ms }),
			HeadP99: f(func(x *Result) float64 { return x.ManifestHead.P99ms }), ImagePull: f(func(x *Result) float64 { return x.ImagePull.MBps }),
			Token: req(tok, rps), TokenP50: req(tok, p50), TokenP99: req(tok, p99),
			Exchange: req(exc, rps), ExchangeP50: req(exc, p50), ExchangeP99: req(exc, p99),
		}
	}
	return out
}

// slicesOf computes, for each slice, moat's figure over each other server's
// (and moats3's over moat's), then the medians; and each server's median figure.
func slicesOf(slices map[int]map[string]*Result, fig func(*Result) float64) (SliceRatios, map[string]float64) {
	sr := SliceRatios{PerSlice: map[string][]float64{}, Median: map[string]float64{}}
	abs := map[string][]float64{}
	for _, i := range sortedKeys(slices) {
		servers := slices[i]
		for s, res := range servers {
			abs[s] = append(abs[s], fig(res))
		}
		ratio := func(name, a, b string) {
			if x, y := servers[a], servers[b]; x != nil && y != nil && fig(y) > 0 {
				sr.PerSlice[name] = append(sr.PerSlice[name], round2(fig(x)/fig(y)))
			}
		}
		for _, other := range []string{Limit, LimitFsync, Zot, Distribution} {
			ratio("moat/"+other, Moat, other)
		}
		ratio("moats3/moat", MoatS3, Moat)
		ratio("minio/moat", MinIODirect, Moat)
		ratio("moats3/minio", MoatS3, MinIODirect)
	}
	for k, v := range sr.PerSlice {
		sr.Median[k] = round2(median(v))
	}
	med := map[string]float64{}
	for s, v := range abs {
		med[s] = median(v)
	}
	return sr, med
}

// withS3 replaces sr's S3 ratios and med's S3 servers' medians by those of the
// S3 slices.
func withS3(sr *SliceRatios, med map[string]float64, slices map[int]map[string]*Result, fig func(*Result) float64) {
	s3, s3med := slicesOf(slices, fig)
	for _, k := range []string{"moats3/moat", "minio/moat", "moats3/minio"} {
		sr.PerSlice[k], sr.Median[k] = s3.PerSlice[k], s3.Median[k]
		if len(s3.PerSlice[k]) == 0 {
			delete(sr.PerSlice, k)
			delete(sr.Median, k)
		}
	}
	for _, s := range []string{MoatS3, MinIODirect} {
		if v, ok := s3med[s]; ok {
			med[s] = v
		}
	}
	med[MoatS3Ref] = s3med[Moat]
}

func sortedKeys[V any](m map[int]V) []int {
	var k []int
	for i := range m {
		k = append(k, i)
	}
	sort.Ints(k)
	return k
}

// s3Reference is moat's filesystem push that the S3 figures were compared with.
func s3Reference(med map[string]float64) float64 {
	if v, ok := med[MoatS3Ref]; ok {
		return v
	}
	return med[Moat]
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if n := len(v); n%2 == 1 {
		return v[n/2]
	} else {
		return (v[n/2-1] + v[n/2]) / 2
	}
}

func round2(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 2, 64), 64)
	return v
}

// Markdown writes the report as docs/benchmarks.md keeps runs.
func (r *Report) Markdown(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	m := r.Run.Machine
	p("### Run of %s, commit %s\n\n", orDash(r.Run.Started), orDash(r.Run.Commit))
	p("Load average (1, 5, 15 min) %s at the start, %s at the end. %v × %v, Linux %v, %v. ",
		orDash(r.Run.LoadBefore), orDash(r.Run.LoadAfter), m["nproc"], m["cpu"], m["kernel"], m["go"])
	st := r.Settings
	p("Rounds: %d; HEAD slices: %d; transfer slices: %d; %d × %d MiB blobs at concurrency %d; HEAD and token runs at %d clients.\n\n",
		r.NRounds, len(r.Head.PerSlice["moat/limit"]), len(r.Push.PerSlice["moat/limit"]), st.Blobs, st.BlobBytes>>20, st.Concurrency, st.HeadConc)
	if len(r.Medians["push"]) > 0 || len(r.Medians["head"]) > 0 {
		p("| run | limit pull / push / HEAD | zot | Distribution | moat |\n|---|---|---|---|---|\n")
		lim := func(k string) string { return num(r.Medians[k][Limit]) }
		rat := func(k, s string) string { return ratio(r.Medians[k][s], r.Medians[k][Limit]) }
		p("| %s | %s / %s / %s |", orDash(r.Run.Started), lim("pull"), lim("push"), lim("head"))
		for _, s := range []string{Zot, Distribution, Moat} {
			p(" %s / %s / %s |", rat("pull", s), rat("push", s), rat("head", s))
		}
		p("\n\nThe row: the limit server's medians over the slices (MB/s, MB/s, requests/s) and each server's as a ratio of them. " +
			"moat's ratios as medians of per-slice ratios (each slice in parentheses):\n\n")
		p("| moat over | limit | limit (fsync) | zot | Distribution |\n|---|---|---|---|---|\n")
		for _, row := range []struct {
			name string
			s    SliceRatios
		}{{"blob push", r.Push}, {"blob pull", r.Pull}, {"manifest HEAD", r.Head}} {
			p("| %s |", row.name)
			for _, o := range []string{Limit, LimitFsync, Zot, Distribution} {
				p(" %s |", sliceCell(row.s, "moat/"+o))
			}
			p("\n")
		}
	}
	if v := r.Push.PerSlice["moats3/moat"]; len(v) > 0 {
		p("\nS3 (moat on MinIO on this host) over the filesystem, blob push: %s; pull: %s. Medians: S3 push %s MB/s, filesystem %s.\n",
			sliceCell(r.Push, "moats3/moat"), sliceCell(r.Pull, "moats3/moat"), num(r.Medians["push"][MoatS3]), num(s3Reference(r.Medians["push"])))
		if len(r.Push.PerSlice["minio/moat"]) > 0 {
			p("The same blobs straight into that MinIO (no registry; moat's S3 client and part size), over moat on the filesystem, push: %s; pull: %s (the ceiling of S3 on this host). "+
				"moat on S3 over MinIO direct, push: %s; pull: %s. Median MinIO direct push %s MB/s.\n",
				sliceCell(r.Push, "minio/moat"), sliceCell(r.Pull, "minio/moat"), sliceCell(r.Push, "moats3/minio"), sliceCell(r.Pull, "moats3/minio"),
				num(r.Medians["push"][MinIODirect]))
		}
	}
	if f, ok := r.Rounds[Moat]; ok {
		p("\nRounds (medians): image pull by 8 nodes %s MB/s (limit %s, zot %s, Distribution %s); moat HEAD p50 / p99 %s / %s ms.",
			num(f.ImagePull), num(r.Rounds[Limit].ImagePull), num(r.Rounds[Zot].ImagePull), num(r.Rounds[Distribution].ImagePull),
			num2(f.HeadP50), num2(f.HeadP99))
		p(" Token endpoint, %d clients: Basic credentials %s requests/s (p50 %s ms, p99 %s ms); /oauth2/exchange %s requests/s (p50 %s ms, p99 %s ms).\n",
			st.HeadConc, num(f.Token), num2(f.TokenP50), num2(f.TokenP99), num(f.Exchange), num2(f.ExchangeP50), num2(f.ExchangeP99))
	}
	if r.Run.Registries > 0 || len(r.Memory) > 0 {
		p("\nMemory (moat's VmRSS):")
		if r.Run.Registries > 0 {
			p(" idle with %d registries %s MiB.", r.Run.Registries, num2(r.Run.IdleRSSMiB))
		}
		for _, c := range sortedMemKeys(r.Memory) {
			mm := r.Memory[c]
			mb := r.MemoryMB[c]
			p(" %s concurrent client(s) (%s): idle %s MiB, peak above it %s MiB during the push (%s MB/s) and %s MiB during the pull (%s MB/s), %s MiB after.",
				c, memLoad(c), num2(mm.IdleMiB), signed(mm.PushAbove), num(mb[0]), signed(mm.PullAbove), num(mb[1]), num2(mm.AfterMiB))
		}
		p("\n")
	}
	if r.Scaling != nil {
		r.Scaling.Markdown(w)
	}
	p("\n")
}

// memLoad names scripts/bench's memory workload for that many clients.
func memLoad(clients string) string {
	n, _ := strconv.Atoi(clients)
	if n <= 0 {
		return "?"
	}
	return fmt.Sprintf("%d × %d MiB", n, 4096/n)
}

func sortedMemKeys(m map[string]*Memory) []string {
	var k []string
	for c := range m {
		k = append(k, c)
	}
	sort.Slice(k, func(i, j int) bool { a, _ := strconv.Atoi(k[i]); b, _ := strconv.Atoi(k[j]); return a < b })
	return k
}

// sliceCell is "median (a, b, c)".
func sliceCell(s SliceRatios, k string) string {
	v := s.PerSlice[k]
	if len(v) == 0 {
		return "—"
	}
	var each []string
	for _, x := range v {
		each = append(each, strconv.FormatFloat(x, 'f', 2, 64))
	}
	return fmt.Sprintf("**%.2f** (%s)", s.Median[k], strings.Join(each, ", "))
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "—"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

func num(f float64) string {
	if f <= 0 {
		return "—"
	}
	return strconv.FormatFloat(f, 'f', 0, 64)
}

func num2(f float64) string {
	if f <= 0 {
		return "—"
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

// signed is a difference, which may be below zero.
func signed(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
