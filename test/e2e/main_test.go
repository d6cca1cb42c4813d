package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/moat-registry/moat/test/harness"
)

const (
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
	before := snapshotCredentialFiles()
	code := m.Run()
	if srv != nil {
		srv.stop()
		if srv.password != "" {
			if b, err := os.ReadFile(srv.logPath); err == nil && bytes.Contains(b, []byte(srv.password)) {
				fmt.Fprintf(os.Stderr, "e2e: the server log %s contains the administrator password\n", srv.logPath)
				code = 1
			}
		}
	}
	if changed := changedCredentialFiles(before); len(changed) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: the test run changed the user's real credential files (every client must use its own HOME): %s\n",
			strings.Join(changed, ", "))
		code = 1
	}
	_ = os.RemoveAll(tmpRoot)
	harness.Cleanup()
	os.Exit(code)
}

// credentialFiles are where the clients keep registry credentials for the
// user running the tests. No test may write to them: every client and every
// moat CLI run gets its own HOME.
func credentialFiles() []string {
	home, _ := os.UserHomeDir()
	files := []string{}
	if home != "" {
		files = append(files,
			filepath.Join(home, ".docker", "config.json"),
			filepath.Join(home, ".regctl", "config.json"),
			filepath.Join(home, ".config", "containers", "auth.json"))
	}
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		files = append(files, filepath.Join(d, "config.json"))
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		files = append(files, filepath.Join(d, "containers", "auth.json"))
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		files = append(files, filepath.Join(d, "containers", "auth.json"))
	}
	files = append(files, fmt.Sprintf("/run/user/%d/containers/auth.json", os.Getuid()))
	if f := os.Getenv("REGISTRY_AUTH_FILE"); f != "" {
		files = append(files, f)
	}
	if f := os.Getenv("REGCTL_CONFIG"); f != "" {
		files = append(files, f)
	}
	return files
}

// snapshotCredentialFiles records the digest of each credential file ("" if absent).
func snapshotCredentialFiles() map[string]string {
	snap := map[string]string{}
	for _, f := range credentialFiles() {
		snap[f] = ""
		if b, err := os.ReadFile(f); err == nil {
			snap[f] = digestOf(b)
		} else if !errors.Is(err, os.ErrNotExist) {
			snap[f] = "unreadable: " + err.Error()
		}
	}
	return snap
}

func changedCredentialFiles(before map[string]string) []string {
	var changed []string
	for f, d := range snapshotCredentialFiles() {
		if before[f] != d {
			changed = append(changed, f)
		}
	}
	return changed
}

// e2eRequired reports whether MOAT_E2E=1 asks for every e2e test to run.
func e2eRequired() bool { return os.Getenv("MOAT_E2E") == "1" }

// server is one running `moat serve` process shared by all tests of the run.
type server struct {
	bin     string // path of the moat binary
	addr    string // 127.0.0.1:PORT
	url     string // http://127.0.0.1:PORT
	dataDir string
	logPath string
	// password is the administrator's, set with MOAT_ADMIN_PASSWORD on the
	// server's first start; the clients log in as admin with it.
	password string
	// home is the HOME of every moat CLI run against this server.
	home string
	// env are extra variables of `moat serve` (e.g. MOAT_GC_GRACE).
	env  []string
	proc *harness.Process
}

// moatServer returns the shared server, building and starting it on first use.
func moatServer(t *testing.T) *server {
	t.Helper()
	srvOnce.Do(func() { srv, srvErr = startServer() })
	if srvErr != nil {
		t.Fatalf("could not start moat server: %v", srvErr)
	}
	if !srv.proc.Running() {
		t.Fatalf("moat server exited early (%v)\n%s", srv.proc.Err(), srv.logTail(60))
	}
	return srv
}

func startServer() (*server, error) {
	bin, err := harness.Binary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		port, err := harness.FreePort()
		if err != nil {
			return nil, err
		}
		s := newServer(bin, fmt.Sprintf("127.0.0.1:%d", port), filepath.Join(tmpRoot, fmt.Sprintf("run%d", attempt)), newPassword())
		if err := s.start(); err != nil {
			lastErr = err
			continue
		}
		return s, nil
	}
	return nil, lastErr
}

// newServer describes a server on addr keeping its data, log and CLI home
// under dir; start runs it.
func newServer(bin, addr, dir, password string) *server {
	return &server{
		bin:      bin,
		addr:     addr,
		url:      "http://" + addr,
		dataDir:  filepath.Join(dir, "data"),
		logPath:  filepath.Join(dir, "server.log"),
		home:     filepath.Join(dir, "home"),
		password: password,
	}
}

// newPassword is a random administrator password.
func newPassword() string { return "e2e-" + randomHex(32) }

// restarted is a stopped server started again on the same address, data and
// password (tokens are bound to the address, so it must stay the same).
func (s *server) restarted() (*server, error) {
	n := &server{bin: s.bin, addr: s.addr, url: s.url, dataDir: s.dataDir, logPath: s.logPath + ".restart",
		home: s.home, password: s.password}
	return n, n.start()
}

// start runs `moat serve` and waits until it is ready: GET /v2/ without a
// token answers 401 with a Bearer challenge (a 200 would mean the data plane
// is open to anyone).
func (s *server) start() error {
	for _, d := range []string{s.dataDir, s.home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	cmd := exec.Command(s.bin, "serve", "--data-dir", s.dataDir, "--listen", s.addr)
	// The helpers drop the caller's MOAT_* variables; the password is set explicitly.
	cmd.Env = append(append(isolatedEnv(s.home), "MOAT_ADMIN_PASSWORD="+s.password), s.env...)
	var err error
	if s.proc, err = harness.Start(cmd, s.logPath); err != nil {
		return err
	}
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(serverStartMax)
	for time.Now().Before(deadline) {
		if !s.proc.Running() {
			return fmt.Errorf("moat serve --listen %s exited before it was ready (%v)\n%s", s.addr, s.proc.Err(), s.logTail(60))
		}
		resp, err := client.Get(s.url + "/v2/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized && bearerChallengeOK(resp.Header.Get("WWW-Authenticate")) {
				return s.login()
			}
			if resp.StatusCode == http.StatusOK {
				s.stop()
				return fmt.Errorf("GET %s/v2/ without a token answered 200: the data plane does not require authentication\n%s", s.url, s.logTail(60))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return fmt.Errorf("GET %s/v2/ did not answer 401 with a Bearer challenge within %v\n%s", s.url, serverStartMax, s.logTail(60))
}

// login signs the moat CLI in as the administrator (the session is kept in
// the server's private HOME, so every s.moat call uses it).
func (s *server) login() error {
	cmd := exec.Command(s.bin, "login", "--server", s.url, "-u", "admin", "-p", "-", "-o", "none")
	cmd.Env = isolatedEnv(s.home)
	cmd.Stdin = strings.NewReader(s.password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		s.stop()
		return fmt.Errorf("moat login as admin: %v\n%s", err, out)
	}
	return nil
}

// bearerChallengeOK reports whether h is a Bearer challenge with a realm and a service.
func bearerChallengeOK(h string) bool {
	scheme, params := parseChallenge(h)
	return scheme == "bearer" && params["realm"] != "" && params["service"] != ""
}

// parseChallenge splits a WWW-Authenticate header into its lower-cased scheme
// and its parameters (auth-param = token "=" ( token / quoted-string )).
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; {
		k, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				break
			}
			v, rest = after[1:1+end], after[2+end:]
		} else {
			v, rest, _ = strings.Cut(after, ",")
		}
		params[strings.ToLower(strings.TrimSpace(k))] = v
		rest = strings.TrimLeft(rest, ", ")
	}
	return strings.ToLower(scheme), params
}

// stop ends the server (SIGTERM to its process group, SIGKILL after 10s).
func (s *server) stop() {
	if s.proc != nil {
		s.proc.Stop()
	}
}

// logTail returns the last n lines of the server's log, framed for messages.
func (s *server) logTail(n int) string { return harness.LogTail(s.logPath, n) }

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
	cmd.Env = append(isolatedEnv(s.home), env...)
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustMoat runs the moat CLI against the shared server (--server given)
// and fails the test if it fails; it returns the output.
func (s *server) mustMoat(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.moat(t, nil, append(args, "--server", s.url)...)
	if err != nil {
		t.Fatalf("moat %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// isolatedEnv is the environment with HOME and every client configuration
// location moved into home (created here), and without MOAT_* variables (a
// caller's MOAT_CONFIG, MOAT_SERVER, MOAT_TLS_CERT, ... must not change the
// tests). Nothing run with it reads or writes the user's own configuration or
// credentials.
func isolatedEnv(home string) []string {
	for _, d := range []string{".docker", ".config", "run", "work"} {
		_ = os.MkdirAll(filepath.Join(home, d), 0o700)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "DOCKER_CONFIG", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "REGISTRY_AUTH_FILE",
			"REGCTL_CONFIG", "ORAS_CONFIG", "NO_PROXY", "no_proxy":
			continue
		}
		if strings.HasPrefix(k, "MOAT_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+home,
		"DOCKER_CONFIG="+filepath.Join(home, ".docker"),
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_RUNTIME_DIR="+filepath.Join(home, "run"),
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	)
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
	home string   // the client's private HOME (DOCKER_CONFIG is home/.docker)
	dir  string   // working directory
	srv  *server
}

// toolsDirs lists where the clients may be, besides PATH.
func toolsDirs() []string {
	var dirs []string
	if d := os.Getenv("MOAT_TOOLS_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	if root, err := harness.RepoRoot(); err == nil {
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
	env := isolatedEnv(home)
	if _, err := os.Stat(filepath.Join(home, "work")); err != nil {
		t.Fatal(err)
	}
	return &client{name: name, path: path, env: env, home: home, dir: filepath.Join(home, "work"), srv: s}
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

// fail runs the client and fails the test unless it fails because the content
// is not there (not found / unknown / 404): the client is logged in as the
// administrator, so a refusal for want of authorization would not show what
// why expects. Returns stdout+stderr for further checks.
func (c *client) fail(t *testing.T, why string, args ...string) string {
	t.Helper()
	out := c.exitFail(t, why, args...)
	if authRefusal(out) || !notFound(out) {
		t.Fatalf("%s command failed as it must (%s), but not with a not-found error:\n$ %s %s\n%s",
			c.name, why, c.name, strings.Join(args, " "), printable(out))
	}
	return out
}

// authRefusal reports whether client output tells of a 401 or 403.
func authRefusal(out string) bool {
	low := strings.ToLower(out)
	for _, s := range []string{"unauthorized", "denied", "forbidden", "status code 401", "status code 403", "http 401", "http 403", "401 unauthorized"} {
		if strings.Contains(low, s) {
			return true
		}
	}
	return false
}

// notFound reports whether client output tells that something does not exist.
func notFound(out string) bool {
	low := strings.ToLower(out)
	for _, s := range []string{"not found", "unknown", "404"} {
		if strings.Contains(low, s) {
			return true
		}
	}
	return false
}

// expectNoAuthRefusal fails the test if r failed with a 401 or 403.
func (c *client) expectNoAuthRefusal(t *testing.T, args []string, r runResult) {
	t.Helper()
	if r.err != nil && authRefusal(r.combined()) {
		t.Fatalf("%s was refused authorization although it is logged in as admin:\n%s", c.name, c.describe(args, r))
	}
}

// exitFail runs the client and fails the test if it succeeds; why explains
// the expectation. Returns stdout+stderr for further checks.
func (c *client) exitFail(t *testing.T, why string, args ...string) string {
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

// failUnauthorized runs the client and requires it to fail because the
// registry refused it for want of credentials (a 401), which is how every
// client must fare before it logs in.
func (c *client) failUnauthorized(t *testing.T, args ...string) {
	t.Helper()
	out := c.exitFail(t, "the client has not logged in", args...)
	low := strings.ToLower(out)
	if !strings.Contains(low, "unauthorized") && !strings.Contains(low, "401") {
		t.Fatalf("%s %s failed, but not with 401/unauthorized:\n%s", c.name, strings.Join(args, " "), printable(out))
	}
}

// expectCredentialFile checks that the client's login wrote the server's
// entry to a file inside its private HOME (rel is relative to it).
func (c *client) expectCredentialFile(t *testing.T, rel string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.home, rel))
	if err != nil {
		t.Fatalf("%s login: no credentials in its private HOME: %v", c.name, err)
	}
	if !strings.Contains(string(b), c.srv.addr) {
		t.Fatalf("%s login: %s has no entry for %s", c.name, rel, c.srv.addr)
	}
}

// step runs f as a subtest and stops the parent test if it failed, since the
// later steps of a scenario depend on the earlier ones.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}
