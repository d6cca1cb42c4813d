package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is the resident memory of the registry's process (when the
// generator runs on its host and is given its PID), in MiB: before the
// transfers, and the peak during the blob push and during the blob pull. The
// peak is the kernel's high-water mark (VmHWM), reset before each phase
// (/proc/<pid>/clear_refs), so a short spike between samples is not missed.
type Memory struct {
	PID       int     `json:"pid"`
	IdleMiB   float64 `json:"idle_rss_mib"`
	PushPeak  float64 `json:"push_peak_rss_mib"`
	PullPeak  float64 `json:"pull_peak_rss_mib"`
	AfterMiB  float64 `json:"after_rss_mib"`
	PushAbove float64 `json:"push_above_idle_mib"`
	PullAbove float64 `json:"pull_above_idle_mib"`
}

// resetPeak starts a new high-water mark of pid's resident memory.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// rss returns pid's current (VmRSS) and peak (VmHWM) resident memory in MiB.
func rss(pid int) (cur, peak float64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		kib, _ := strconv.ParseFloat(fields[0], 64)
		switch k {
		case "VmRSS":
			cur = round(kib / 1024)
		case "VmHWM":
			peak = round(kib / 1024)
		}
	}
	if cur == 0 || peak == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS/VmHWM", pid)
	}
	return cur, peak, sc.Err()
}

// memWatch takes the Memory figures of one run; a zero PID takes none.
type memWatch struct {
	pid int
	m   Memory
	err error
}

func newMemWatch(pid int) (*memWatch, error) {
	w := &memWatch{pid: pid, m: Memory{PID: pid}}
	if pid <= 0 {
		return w, nil
	}
	idle, _, err := rss(pid)
	if err == nil {
		err = resetPeak(pid)
	}
	if err != nil {
		return nil, fmt.Errorf("--server-pid %d: %w (the generator must run on the registry's host, as its user or root)", pid, err)
	}
	w.m.IdleMiB = idle
	return w, nil
}

// phase records the peak since the last reset into *peak and starts anew.
func (w *memWatch) phase(peak *float64) {
	if w.pid <= 0 || w.err != nil {
		return
	}
	_, *peak, w.err = rss(w.pid)
	if w.err == nil {
		w.err = resetPeak(w.pid)
	}
}

func (w *memWatch) done() (*Memory, error) {
	if w.pid <= 0 {
		return nil, nil
	}
	if w.err != nil {
		return nil, w.err
	}
	cur, _, err := rss(w.pid)
	if err != nil {
		return nil, err
	}
	w.m.AfterMiB = cur
	w.m.PushAbove = round(w.m.PushPeak - w.m.IdleMiB)
	w.m.PullAbove = round(w.m.PullPeak - w.m.IdleMiB)
	return &w.m, nil
}
