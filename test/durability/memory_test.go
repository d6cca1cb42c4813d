package durability

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// maxRSSMiB is the most resident memory the server may use while it streams
// a blob of any size.
const maxRSSMiB = 200

// largeBlobMiB is MOAT_LARGE_BLOB_MIB (default 1024), for quick local runs.
func largeBlobMiB(t *testing.T) int64 {
	v := os.Getenv("MOAT_LARGE_BLOB_MIB")
	if v == "" {
		return 1024
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		t.Fatalf("MOAT_LARGE_BLOB_MIB=%q: want a positive number of MiB", v)
	}
	return n
}

func TestLargeBlobStreamsWithFlatMemory(t *testing.T) {
	mib := largeBlobMiB(t)
	big := blobData{seed: 99, size: mib << 20}
	start := time.Now()
	d := big.digest()
	t.Logf("generated and hashed %d MiB in %v: %s", mib, time.Since(start).Round(time.Millisecond), d)

	s := startServer(t, t.TempDir())
	s.createRegistry(t, "memory")
	c := newClient(t, s.url, "memory", "big")
	baseline := procStatusMiB(t, s.pid(), "VmRSS")

	w := watchRSS(t, s.pid())
	start = time.Now()
	if err := c.postMonolithic(d, big.from(0), big.size); err != nil {
		t.Fatal(err)
	}
	pushTime := time.Since(start)
	pushPeak, pushSamples := w.stop(), w.samples

	w = watchRSS(t, s.pid())
	start = time.Now()
	c.checkBlob(t, d, big.size)
	pullTime := time.Since(start)
	pullPeak, pullSamples := w.stop(), w.samples
	hwm := procStatusMiB(t, s.pid(), "VmHWM")

	label := fmt.Sprintf("%dMiB", mib)
	if mib == 1024 {
		label = "1GiB"
	}
	peak := max(pushPeak, pullPeak, hwm)
	t.Logf("server RSS: %.1f MiB idle; push peak %.1f MiB (%d samples, %v, %.0f MiB/s); pull peak %.1f MiB (%d samples, %v, %.0f MiB/s); VmHWM %.1f MiB",
		baseline, pushPeak, pushSamples, pushTime.Round(time.Millisecond), float64(mib)/pushTime.Seconds(),
		pullPeak, pullSamples, pullTime.Round(time.Millisecond), float64(mib)/pullTime.Seconds(), hwm)
	fmt.Printf("durability: %s push+pull peak RSS = %.0f MiB (push %.1f MiB, pull %.1f MiB, VmHWM %.1f MiB)\n",
		label, peak, pushPeak, pullPeak, hwm)
	if peak >= maxRSSMiB {
		t.Errorf("server RSS peaked at %.1f MiB while streaming a %d MiB blob; want < %d MiB (is the blob buffered?)", peak, mib, maxRSSMiB)
	}
}

// rssWatcher samples a process's VmRSS every 50 ms and keeps the peak.
type rssWatcher struct {
	done    chan struct{}
	wg      sync.WaitGroup
	peak    float64
	samples int
}

func watchRSS(t *testing.T, pid int) *rssWatcher {
	w := &rssWatcher{done: make(chan struct{}), peak: procStatusMiB(t, pid, "VmRSS")}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-tick.C:
				if v, err := readProcStatus(pid, "VmRSS"); err == nil {
					w.peak = max(w.peak, v)
					w.samples++
				}
			}
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

// stop ends the sampling and returns the peak in MiB.
func (w *rssWatcher) stop() float64 {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	w.wg.Wait()
	return w.peak
}

func procStatusMiB(t *testing.T, pid int, field string) float64 {
	t.Helper()
	v, err := readProcStatus(pid, field)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readProcStatus reads a "<field>: N kB" line of /proc/<pid>/status, in MiB.
func readProcStatus(pid int, field string) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status %s: %q", pid, field, rest)
		}
		return kb / 1024, nil
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}
