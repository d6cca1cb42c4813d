package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

const (
	moatModule     = "github.com/moat-registry/moat"
	commandTimeout = 3 * time.Minute
	serverStartMax = 60 * time.Second
)

var (
	// tmpRoot holds the built binary and the server's data dir; removed by TestMain.
	tmpRoot string

	srvOnce sync.Once
	srv     *server
	srvErr  error
)

func TestMain(m *testing.M) {
	var err error
	tmpRoot, err = os.MkdirTemp("", "moat-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if srv != nil {
		srv.stop()
	}
	_ = os.RemoveAll(tmpRoot)
	os.Exit(code)
}

// e2eRequired reports whether MOAT_E2E=1 asks for every e2e test to run.
func e2eRequired() bool { return os.Getenv("MOAT_E2E") == "1" }

// repoRoot finds the moat module root by walking up from the test's directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module "+moatModule) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for %s above the working directory", moatModule)
		}
		dir = parent
	}
}

// server is one running `moat serve` process shared by all tests of the run.
type server struct {
	bin     string // path of the moat binary
	addr    string // 127.0.0.1:PORT
	url     string // http://127.0.0.1:PORT
	dataDir string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// moatServer returns the shared server, building and starting it on first use.
func moatServer(t *testing.T) *server {
	t.Helper()
	srvOnce.Do(func() { srv, srvErr = startServer() })
	if srvErr != nil {
		t.Fatalf("could not start moat server: %v", srvErr)
	}
	select {
	case <-srv.exited:
		t.Fatalf("moat server exited early (%v)\n%s", srv.exitErr, srv.logTail(60))
	default:
	}
	return srv
}

func buildMoat() (string, error) {
	if bin := os.Getenv("MOAT_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("MOAT_BIN: %w", err)
		}
		return abs, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(tmpRoot, "moat")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/moat")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/moat: %v\n%s", err, out)
	}
	return bin, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startServer() (*server, error) {
	bin, err := buildMoat()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &server{
			bin:     bin,
			addr:    fmt.Sprintf("127.0.0.1:%d", port),
			dataDir: filepath.Join(tmpRoot, fmt.Sprintf("data%d", attempt)),
			logPath: filepath.Join(tmpRoot, fmt.Sprintf("server%d.log", attempt)),
			exited:  make(chan struct{}),
		}
		s.url = "http://" + s.addr
		if err := s.start(); err != nil {
			lastErr = err
			continue
		}
		return s, nil
	}
	return nil, lastErr
}

func (s *server) start() error {
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	s.cmd = exec.Command(s.bin, "serve", "--data-dir", s.dataDir, "--listen", s.addr)
	s.cmd.Env = envWithoutMoat()
	s.cmd.Stdout = logFile
	s.cmd.Stderr = logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s serve: %w", s.bin, err)
	}
	go func() {
		s.exitErr = s.cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(serverStartMax)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("moat serve --listen %s exited before it was ready (%v)\n%s", s.addr, s.exitErr, s.logTail(60))
		default:
		}
		resp, err := client.Get(s.url + "/v2/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return fmt.Errorf("GET %s/v2/ did not return 200 within %v\n%s", s.url, serverStartMax, s.logTail(60))
}

// stop ends the server: SIGTERM to its process group, SIGKILL after 10s.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
	}
}

// logTail returns the last n lines of the server's log, framed for messages.
func (s *server) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- moat server log (last %d lines of %s) ---\n%s\n--- end of server log ---", len(lines), s.logPath, strings.Join(lines, "\n"))
}

// failureLog makes t print the server log tail when the test fails.
func (s *server) failureLog(t *testing.T) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(s.logTail(40))
		}
	})
}

// ref returns "127.0.0.1:PORT/<registry>/<repo>" plus the suffix (":tag" or "@digest").
func (s *server) ref(registry, repo, suffix string) string {
	return s.addr + "/" + registry + "/" + repo + suffix
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)[:n]
}

// uniqueName returns a registry name: prefix plus random hex, alphanumeric, 5-50 chars.
func uniqueName(prefix string) string {
	name := strings.ToLower(prefix) + randomHex(10)
	if len(name) > 50 {
		name = name[:50]
	}
	return name
}

// moat runs the moat CLI against the shared server.
func (s *server) moat(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = append(envWithoutMoat(), env...)
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// envWithoutMoat is the environment minus MOAT_* variables (a caller's
// MOAT_CONFIG, MOAT_SERVER, MOAT_TLS_CERT, ... must not change the tests).
func envWithoutMoat() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MOAT_") {
			env = append(env, kv)
		}
	}
	return env
}

// createRegistry creates a registry with a unique name and returns its name.
func (s *server) createRegistry(t *testing.T, prefix string) string {
	t.Helper()
	name := uniqueName(prefix)
	args := []string{"acr", "create", "--name", name, "--sku", "Premium", "--server", s.url}
	out, err := s.moat(t, nil, args...)
	if err != nil {
		t.Fatalf("moat %s: %v\n%s\n%s", strings.Join(args, " "), err, out, s.logTail(30))
	}
	return name
}

// client is one external client binary run with an isolated HOME.
type client struct {
	name string
	path string
	env  []string // complete environment for the client
	dir  string   // working directory
	srv  *server
}

// toolsDirs lists where the clients may be, besides PATH.
func toolsDirs() []string {
	var dirs []string
	if d := os.Getenv("MOAT_TOOLS_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	if root, err := repoRoot(); err == nil {
		dirs = append(dirs, filepath.Join(root, ".tools", "bin"))
	}
	return dirs
}

// findTool locates a client binary; when missing it fails the test if MOAT_E2E=1
// and skips it otherwise.
func findTool(t *testing.T, name string) string {
	t.Helper()
	dirs := toolsDirs()
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found in %s or PATH: run scripts/install-test-deps", name, strings.Join(dirs, ", "))
	if e2eRequired() {
		t.Fatalf("MOAT_E2E=1 but %s", msg)
	}
	t.Skipf("skipping: %s (set MOAT_E2E=1 to make this a failure)", msg)
	return ""
}

// newClient finds the client binary, starts (or reuses) the server and gives the
// client a private HOME so no user or machine configuration leaks in.
func newClient(t *testing.T, name string) *client {
	t.Helper()
	path := findTool(t, name)
	s := moatServer(t)
	s.failureLog(t)
	home := t.TempDir()
	for _, d := range []string{".docker", ".config", "run", "work"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "DOCKER_CONFIG", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "REGISTRY_AUTH_FILE",
			"REGCTL_CONFIG", "ORAS_CONFIG", "NO_PROXY", "no_proxy":
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"HOME="+home,
		"DOCKER_CONFIG="+filepath.Join(home, ".docker"),
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_RUNTIME_DIR="+filepath.Join(home, "run"),
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	)
	return &client{name: name, path: path, env: env, dir: filepath.Join(home, "work"), srv: s}
}

type runResult struct {
	stdout, stderr string
	err            error
}

func (r runResult) combined() string { return r.stdout + r.stderr }

func (c *client) exec(t *testing.T, stdin []byte, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Env = c.env
	cmd.Dir = c.dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", commandTimeout, err)
	}
	r := runResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
	if os.Getenv("MOAT_E2E_VERBOSE") != "" {
		t.Logf("$ %s %s\n(err=%v)\nstdout:\n%s\nstderr:\n%s", c.name, strings.Join(args, " "), err, r.stdout, r.stderr)
	}
	return r
}

func (c *client) describe(args []string, r runResult) string {
	return fmt.Sprintf("$ %s %s\nresult: %v\n--- stdout ---\n%s\n--- stderr ---\n%s",
		c.name, strings.Join(args, " "), errOrOK(r.err), printable(r.stdout), printable(r.stderr))
}

// printable makes command output fit for a failure message: binary output is
// summarised and long output is cut.
func printable(s string) string {
	const max = 8000
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 && r != '\n' && r != '\r' && r != '\t' && r != 0x1b
	}) {
		return fmt.Sprintf("(%d bytes of binary output, %s)", len(s), digestOf([]byte(s)))
	}
	s = strings.TrimRight(s, "\n")
	if len(s) > max {
		s = s[:max] + fmt.Sprintf("\n... (%d more bytes)", len(s)-max)
	}
	return s
}

func errOrOK(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Error()
	}
	return err.Error()
}

// run runs the client and fails the test if it does not succeed; returns stdout.
func (c *client) run(t *testing.T, args ...string) string {
	t.Helper()
	r := c.exec(t, nil, args...)
	if r.err != nil {
		t.Fatalf("%s command failed:\n%s", c.name, c.describe(args, r))
	}
	return r.stdout
}

// runStdin is run with the given standard input.
func (c *client) runStdin(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	r := c.exec(t, stdin, args...)
	if r.err != nil {
		t.Fatalf("%s command failed:\n%s", c.name, c.describe(args, r))
	}
	return r.stdout
}

// fail runs the client and fails the test if it succeeds; why explains the
// expectation. Returns stdout+stderr for further checks.
func (c *client) fail(t *testing.T, why string, args ...string) string {
	t.Helper()
	r := c.exec(t, nil, args...)
	if r.err == nil {
		t.Fatalf("%s command succeeded but must fail (%s):\n%s", c.name, why, c.describe(args, r))
	}
	var ee *exec.ExitError
	if !errors.As(r.err, &ee) {
		t.Fatalf("%s command could not run properly (%s):\n%s", c.name, why, c.describe(args, r))
	}
	return r.combined()
}

// step runs f as a subtest and stops the parent test if it failed, since the
// later steps of a scenario depend on the earlier ones.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}
