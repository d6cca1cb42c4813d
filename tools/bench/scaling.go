package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
)

// Scaling is scripts/bench's scaling phase: manifest HEAD requests/s and blob
// push and pull MB/s at several numbers of concurrent clients, the servers
// alternating in short slices within each level. Its result files are named
// scale-<clients>-<slice>-<head|transfer>-<server>.json.
type Scaling struct {
	Clients []int                     `json:"clients"`
	Slices  int                       `json:"slices"`
	Figures map[string]*ScalingFigure `json:"figures"` // head|push|pull
	// The workload: blobs of each transfer slice, and a HEAD slice's length.
	Blobs       int     `json:"blobs"`
	BlobBytes   int64   `json:"blob_bytes"`
	HeadSeconds float64 `json:"head_seconds"`
}

// ScalingFigure is one figure at each level and how it grows from the fewest
// clients to the most.
type ScalingFigure struct {
	Levels []ScalingLevel `json:"levels"`
	// Growth is each server's median at the most clients over its median at
	// the fewest (e.g. 8 clients over 1).
	Growth map[string]float64 `json:"growth"`
}

// ScalingLevel is one number of clients: each server's median over the
// slices, and moat's ratios to the others as medians of per-slice ratios.
type ScalingLevel struct {
	Clients int                `json:"clients"`
	Median  map[string]float64 `json:"median"`
	Ratios  SliceRatios        `json:"ratios"`
}

var scaleName = regexp.MustCompile(`^scale-(\d+)-(\d+)-(head|transfer)-([a-z0-9]+)\.json$`)

// scalingFigures are the figures of the phase: which run measures each, and how.
var scalingFigures = []struct {
	key, run, title, unit string
	fig                   func(*Result) float64
}{
	{"head", "head", "manifest HEAD", "requests/s", func(x *Result) float64 { return x.ManifestHead.PerSecond }},
	{"push", "transfer", "blob push", "MB/s", func(x *Result) float64 { return x.Push.MBps }},
	{"pull", "transfer", "blob pull", "MB/s", func(x *Result) float64 { return x.Pull.MBps }},
}

// scaleLevel is one run ("head" or "transfer") at one number of clients.
type scaleLevel struct {
	run     string
	clients int
}

// LoadScaling reads the scaling phase's files in dir; nil when there are none.
func LoadScaling(dir string) (*Scaling, error) {
	sc := &Scaling{Figures: map[string]*ScalingFigure{}}
	got := map[scaleLevel]map[int]map[string]*Result{} // slice -> server -> result
	err := eachResult(dir, scaleName, func(m []string, res *Result) {
		clients, _ := strconv.Atoi(m[1])
		slice, _ := strconv.Atoi(m[2])
		l := scaleLevel{m[3], clients}
		if got[l] == nil {
			got[l] = map[int]map[string]*Result{}
		}
		if got[l][slice] == nil {
			got[l][slice] = map[string]*Result{}
		}
		got[l][slice][m[4]] = res
		if !slices.Contains(sc.Clients, clients) {
			sc.Clients = append(sc.Clients, clients)
		}
		sc.Slices = max(sc.Slices, slice)
		if m[3] == "head" {
			sc.HeadSeconds = res.Settings.Duration
		} else {
			sc.Blobs, sc.BlobBytes = res.Settings.Blobs, res.Settings.BlobBytes
		}
	})
	if err != nil || len(got) == 0 {
		return nil, err
	}
	slices.Sort(sc.Clients)
	for _, f := range scalingFigures {
		if sf := scalingFigure(got, f.run, sc.Clients, f.fig); sf != nil {
			sc.Figures[f.key] = sf
		}
	}
	return sc, nil
}

// scalingFigure is one figure of run at each number of clients; nil when
// the run has no results.
func scalingFigure(got map[scaleLevel]map[int]map[string]*Result, run string, clients []int, fig func(*Result) float64) *ScalingFigure {
	sf := &ScalingFigure{Growth: map[string]float64{}}
	for _, c := range clients {
		if bySlice := got[scaleLevel{run, c}]; bySlice != nil {
			ratios, med := slicesOf(bySlice, fig)
			sf.Levels = append(sf.Levels, ScalingLevel{Clients: c, Median: med, Ratios: ratios})
		}
	}
	if len(sf.Levels) == 0 {
		return nil
	}
	first, last := sf.Levels[0], sf.Levels[len(sf.Levels)-1]
	for s, v := range last.Median {
		if base := first.Median[s]; base > 0 && len(sf.Levels) > 1 {
			sf.Growth[s] = round2(v / base)
		}
	}
	return sf
}

// eachResult calls fn with each of dir's generator results whose file name
// re matches, and the name's submatches.
func eachResult(dir string, re *regexp.Regexp, fn func(m []string, res *Result)) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range files {
		m := re.FindStringSubmatch(filepath.Base(f))
		if m == nil {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var res Result
		if err := json.Unmarshal(raw, &res); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		fn(m, &res)
	}
	return nil
}

// Markdown writes a table per figure (a row per number of clients) and a
// line on how each server's figure grows from the fewest clients to the most.
func (sc *Scaling) Markdown(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("\nScaling with concurrent clients: %d slice(s) per number of clients, the servers alternating; HEAD slices of %s s, "+
		"transfer slices of %d × %d MiB blobs at that concurrency. Medians over the slices; moat's ratios as medians of per-slice ratios "+
		"(each slice in parentheses).\n", sc.Slices, strconv.FormatFloat(sc.HeadSeconds, 'f', -1, 64), sc.Blobs, sc.BlobBytes>>20)
	for _, f := range scalingFigures {
		sf := sc.Figures[f.key]
		if sf == nil {
			continue
		}
		p("\n| %s (%s), clients | moat | limit | zot | moat/limit | moat/zot |\n|---|---|---|---|---|---|\n", f.title, f.unit)
		for _, l := range sf.Levels {
			p("| %d | %s | %s | %s | %s | %s |\n", l.Clients, num(l.Median[Moat]), num(l.Median[Limit]), num(l.Median[Zot]),
				sliceCell(l.Ratios, "moat/"+Limit), sliceCell(l.Ratios, "moat/"+Zot))
		}
		if len(sf.Levels) < 2 {
			continue
		}
		first, last := sf.Levels[0], sf.Levels[len(sf.Levels)-1]
		p("\nFrom %d to %d clients, %s grows ×%s on moat, ×%s on the limit server and ×%s on zot; moat/limit goes from %s to %s.\n",
			first.Clients, last.Clients, f.title, num2(sf.Growth[Moat]), num2(sf.Growth[Limit]), num2(sf.Growth[Zot]),
			medianCell(first.Ratios, "moat/"+Limit), medianCell(last.Ratios, "moat/"+Limit))
	}
}

func medianCell(s SliceRatios, k string) string {
	if len(s.PerSlice[k]) == 0 {
		return "—"
	}
	return strconv.FormatFloat(s.Median[k], 'f', 2, 64)
}
