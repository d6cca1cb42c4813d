package durability

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-registry/moat/test/harness"
)

// envUint reads a number from the environment, or def.
func envUint(t *testing.T, name string, def uint64) uint64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: want a number", name, v)
	}
	return n
}

// runWorkers runs n pushers until ctx ends.
func runWorkers(ctx context.Context, w *workload, n int) (wait func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				w.pushOne()
			}
		}()
	}
	return wg.Wait
}

// TestRandomKillDuringPush: rounds of concurrent pushes (monolithic and
// chunked, random sizes) on one data directory, each ended by SIGKILL at a
// random moment; after each restart every acknowledged image is intact,
// every stored blob matches its digest and pushing works.
// MOAT_FAULT_SEED repeats a run; MOAT_FAULT_ROUNDS sets the rounds (default 5).
func TestRandomKillDuringPush(t *testing.T) {
	seed := envUint(t, "MOAT_FAULT_SEED", uint64(time.Now().UnixNano()))
	rounds := int(envUint(t, "MOAT_FAULT_ROUNDS", 5))
	t.Logf("seed %d (MOAT_FAULT_SEED=%d repeats this run), %d rounds", seed, seed, rounds)
	rng := rand.New(rand.NewPCG(seed, 1))
	dataDir := t.TempDir()
	s := startServer(t, dataDir)
	s.createRegistry(t, crashRegistry)
	c := newClient(t, s.url, crashRegistry, "faults/kill")
	w := newWorkload(c, seed)
	for round := range rounds {
		ctx, cancel := context.WithCancel(context.Background())
		wait := runWorkers(ctx, w, 3)
		delay := 200*time.Millisecond + time.Duration(rng.Int64N(int64(1800*time.Millisecond)))
		time.Sleep(delay)
		s.kill()
		cancel()
		wait()
		s = startServer(t, dataDir)
		c.connect(t, s.url)
		w.verify(t)
		verifyBlobFiles(t, dataDir)
		t.Logf("round %d: SIGKILL after %s; so far %s", round+1, delay.Round(time.Millisecond), w.summary())
	}
	w.mustPush(t, 1, "after the last restart")
	w.verify(t)
	t.Logf("faults injected: %d SIGKILLs; %s; lost: nothing", rounds, w.summary())
}

// requireRoot skips (with the reason) when the test cannot mount file systems.
func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (run the durability tests as root to cover full disks and read-only stores)")
	}
}

// mountTmpfs mounts a tmpfs of size on dir until the test ends.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v %s", dir, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
}

// fill writes a file until the file system holding dir is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	for _, small := range []int{4096, 512, 1} { // the last few bytes too
		for {
			if _, err := f.Write(buf[:small]); err != nil {
				break
			}
		}
	}
	return p
}

// startWithImage starts a server on dataDir with the test registry and
// pushes one image to repo, checked after each fault.
func startWithImage(t *testing.T, dataDir, repo string) (*server, *client, image) {
	t.Helper()
	s := startServer(t, dataDir)
	s.createRegistry(t, crashRegistry)
	c := newClient(t, s.url, crashRegistry, repo)
	return s, c, pushImage(t, c)
}

// mustPush pushes n images and fails the test if one is not acknowledged.
func (w *workload) mustPush(t *testing.T, n int, when string) {
	t.Helper()
	for range n {
		if !w.pushOne() {
			t.Fatalf("push %s failed: %s", when, w.summary())
		}
	}
}

// TestDiskFull: with the data directory (metadata and blobs) on a full
// disk, pushes fail with a clean error answer and leave nothing visible;
// what was stored before is still served; after space is freed pushing works
// again without a restart.
func TestDiskFull(t *testing.T) {
	requireRoot(t)
	dataDir := t.TempDir()
	mountTmpfs(t, dataDir, "48m")
	_, c, img := startWithImage(t, dataDir, "faults/full")
	w := newWorkload(c, 7)
	w.mustPush(t, 3, "before the disk is full")
	filler := fill(t, dataDir)
	before := len(w.committed)
	for range 6 {
		if w.pushOne() {
			t.Logf("a small push fitted in the last free bytes")
		}
	}
	w.checkClean(t)
	if w.failures[http.StatusInsufficientStorage] == 0 {
		t.Fatalf("no push answered 507 on a full disk: %s", w.summary())
	}
	// Nothing half-written: every tag the failed pushes used is unknown.
	for i := before + 1; i <= w.seq; i++ {
		if !w.isCommitted(fmt.Sprintf("w%d", i)) {
			resp := c.do(t, http.MethodHead, c.repoURL(fmt.Sprintf("manifests/w%d", i)), nil)
			expect(t, resp, http.StatusNotFound)
		}
	}
	img.check(t, c)
	w.verify(t)
	t.Logf("disk full: %s", w.summary())

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	w.mustPush(t, 3, "after freeing space (no restart)")
	img.check(t, c)
	w.verify(t)
	verifyBlobFiles(t, dataDir)
	t.Logf("after freeing space: %s; lost: nothing", w.summary())
}

// sumFailures is the number of error answers so far.
func sumFailures(w *workload) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.failures {
		n += c
	}
	return n
}

func (w *workload) isCommitted(tag string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.committed {
		if p.tag == tag {
			return true
		}
	}
	return false
}

// TestBlobStoreReadOnly: the blob directory becomes read-only under the
// running server (a failing disk remounted read-only): pushes fail with a
// clean 5xx, pulls of stored content go on, and once it is writable again
// pushes work without a restart.
func TestBlobStoreReadOnly(t *testing.T) {
	requireRoot(t)
	dataDir := t.TempDir()
	blobs := filepath.Join(dataDir, "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, blobs, "64m")
	_, c, img := startWithImage(t, dataDir, "faults/ro")
	w := newWorkload(c, 11)
	remount := func(mode string) {
		if out, err := exec.Command("mount", "-o", "remount,"+mode, blobs).CombinedOutput(); err != nil {
			t.Fatalf("remount %s: %v %s", mode, err, out)
		}
	}
	remount("ro")
	defer remount("rw")
	for range 4 {
		if w.pushOne() {
			t.Fatalf("a push succeeded on a read-only blob store: %s", w.summary())
		}
	}
	w.checkClean(t)
	if w.failures[http.StatusServiceUnavailable] != sumFailures(w) {
		t.Fatalf("want only 503 answers from a read-only store: %s", w.summary())
	}
	img.check(t, c)
	t.Logf("read-only blob store: %s", w.summary())
	remount("rw")
	w.mustPush(t, 3, "after the store is writable again")
	w.verify(t)
	img.check(t, c)
	verifyBlobFiles(t, dataDir)
	t.Logf("after recovery: %s; lost: nothing", w.summary())
}

// privatePostgres starts a PostgreSQL cluster of its own with
// scripts/test-postgres (so that stopping it affects no other test) and
// returns its connection string and control script (stop|start).
func privatePostgres(t *testing.T) (dsn, ctl string) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "test-postgres"), "bash", "-c",
		`echo "${MOAT_TEST_POSTGRES:-}"; echo "${MOAT_TEST_POSTGRES_CTL:-}"; read -r _`)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MOAT_TEST_POSTGRES") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if len(lines) < 2 || lines[0] == "" || lines[1] == "" {
		if os.Getenv("MOAT_E2E") == "1" {
			t.Fatal("scripts/test-postgres could not start PostgreSQL (see its messages above); run scripts/install-test-deps")
		}
		t.Skip("PostgreSQL is not available (scripts/test-postgres could not start it); install it with scripts/install-test-deps")
	}
	return lines[0], lines[1]
}

// TestPostgresRestart: the metadata database is stopped and started again
// under push traffic. While it is down requests fail with a clean 503 (with
// Retry-After); the node recovers by itself, and every acknowledged image is
// intact.
func TestPostgresRestart(t *testing.T) {
	dsn, ctl := privatePostgres(t)
	port := freePort(t)
	s := startServerArgs(t, t.TempDir(), port, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--postgres", dsn)
	s.createRegistry(t, crashRegistry)
	c := newClient(t, s.url, crashRegistry, "faults/pg")
	img := pushImage(t, c)
	w := newWorkload(c, 13)
	ctx, cancel := context.WithCancel(context.Background())
	wait := runWorkers(ctx, w, 3)
	defer func() { cancel(); wait() }()
	time.Sleep(time.Second)
	run := func(arg string) {
		if out, err := exec.Command(ctl, arg).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v %s", ctl, arg, err, out)
		}
	}
	run("stop")
	down := time.Now()
	time.Sleep(3 * time.Second)
	run("start")
	t.Logf("PostgreSQL was down for %s", time.Since(down).Round(time.Millisecond))
	// Recovered without a restart: a pull works again within a minute.
	var ok bool
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && !ok; time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, c.repoURL("manifests/v1"), nil)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
		resp, err := c.send(req)
		if err == nil {
			resp.Body.Close()
			ok = resp.StatusCode == http.StatusOK
		}
	}
	if !ok {
		t.Fatalf("the node did not recover within a minute of the database restart:\n%s", s.log())
	}
	time.Sleep(time.Second) // traffic after the recovery
	cancel()
	wait()
	w.checkClean(t)
	w.mu.Lock()
	failures := w.failures
	w.mu.Unlock()
	for st, n := range failures {
		if st != http.StatusServiceUnavailable {
			t.Errorf("%d answers with status %d while the database restarted; want only 503", n, st)
		}
	}
	if failures[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no request failed while the database was down: the test did not exercise the outage (%s)", w.summary())
	}
	w.mustPush(t, 1, "after recovery")
	img.check(t, c)
	w.verify(t)
	t.Logf("faults injected: 1 database restart; %s; lost: nothing", w.summary())
}

// TestRandomKillDuringGC: pushes move a few tags over and over (so older
// manifests become untagged and their layers unreferenced) while the
// collector runs every 100 ms with a 1 s grace window, on a registry whose
// retention policy deletes untagged manifests at once; SIGKILL at a random
// moment, several rounds. After each restart every tag still resolves to a
// manifest whose blobs are all there and hash to their digests, every blob
// file matches its name, and the collector deleted something (else the test
// proved nothing). MOAT_FAULT_SEED / MOAT_FAULT_ROUNDS as above.
func TestRandomKillDuringGC(t *testing.T) {
	seed := envUint(t, "MOAT_FAULT_SEED", uint64(time.Now().UnixNano()))
	rounds := int(envUint(t, "MOAT_FAULT_ROUNDS", 5))
	t.Logf("seed %d (MOAT_FAULT_SEED=%d repeats this run), %d rounds", seed, seed, rounds)
	rng := rand.New(rand.NewPCG(seed, 2))
	dataDir := t.TempDir()
	port := freePort(t)
	start := func() *server {
		return startServerArgs(t, dataDir, port, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--gc-interval", "100ms", "--gc-grace", "1s")
	}
	s := start()
	s.createRegistry(t, crashRegistry)
	retention := exec.Command(moatBin, "acr", "config", "retention", "update", "--registry", crashRegistry,
		"--status", "enabled", "--days", "0", "--type", "UntaggedManifests", "--server", s.url, "-o", "none")
	retention.Env = envWithoutMoat()
	if out, err := retention.CombinedOutput(); err != nil {
		t.Fatalf("moat acr config retention update: %v\n%s", err, out)
	}
	c := newClient(t, s.url, crashRegistry, "faults/gc")
	w := newWorkload(c, seed)
	w.tags = 4
	var deleted gcTotals
	for round := range rounds {
		ctx, cancel := context.WithCancel(context.Background())
		wait := runWorkers(ctx, w, 3)
		delay := 1500*time.Millisecond + time.Duration(rng.Int64N(int64(2*time.Second)))
		time.Sleep(delay)
		s.kill()
		cancel()
		wait()
		deleted.add(s.log())
		// The files as the kill left them (the restarted server collects
		// again at once, so they are checked while no process runs).
		verifyBlobFiles(t, dataDir)
		s = start()
		c.connect(t, s.url)
		w.verifyTags(t)
		t.Logf("round %d: SIGKILL after %s; collected so far: %s; %s", round+1, delay.Round(time.Millisecond), deleted, w.summary())
	}
	time.Sleep(1500 * time.Millisecond) // a collection or more after the last restart
	w.mustPush(t, 1, "after the last restart")
	w.verifyTags(t)
	deleted.add(s.log())
	if deleted.manifests == 0 || deleted.blobs == 0 {
		t.Fatalf("the collector deleted %s: the test did not exercise it", deleted)
	}
	w.checkClean(t)
	t.Logf("faults injected: %d SIGKILLs during collection; collected %s; %s; lost: nothing referenced", rounds, deleted, w.summary())
}

// gcTotals adds up what the scheduled collections logged.
type gcTotals struct{ runs, manifests, blobs int }

func (g *gcTotals) add(log string) {
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "msg=\"garbage collection\"") && !strings.Contains(line, `"msg":"garbage collection"`) {
			continue
		}
		g.runs++
		g.manifests += field(line, "manifestsDeleted")
		g.blobs += field(line, "blobsDeleted")
	}
}

func (g gcTotals) String() string {
	return fmt.Sprintf("%d runs, %d manifests, %d blobs", g.runs, g.manifests, g.blobs)
}

// field reads name=N (text log) or "name":N (JSON log) from a log line.
func field(line, name string) int {
	for _, sep := range []string{name + "=", `"` + name + `":`} {
		if i := strings.Index(line, sep); i >= 0 {
			rest := line[i+len(sep):]
			end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
			if end < 0 {
				end = len(rest)
			}
			n, _ := strconv.Atoi(rest[:end])
			return n
		}
	}
	return 0
}
