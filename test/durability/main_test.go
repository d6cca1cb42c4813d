// Package durability starts real `moat serve` processes, kills them with
// SIGKILL in the middle of blob uploads and checks what survives a restart,
// and measures the server's memory while it streams a large blob.
package durability

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-registry/moat/test/harness"
)

const serverStartMax = 60 * time.Second

// moatBin is the binary of the run (test/harness: built once, or MOAT_BIN).
var moatBin string

// adminPassword is the administrator's password, given to every server with
// MOAT_ADMIN_PASSWORD (it takes effect on a data directory's first start and
// stays the same across restarts).
var adminPassword string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "moat-durability-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "durability: %v\n", err)
		os.Exit(1)
	}
	var pw [24]byte
	if _, err := rand.Read(pw[:]); err != nil {
		panic(err)
	}
	adminPassword = "durability-" + hex.EncodeToString(pw[:])
	sandboxHome = filepath.Join(dir, "home")
	moatBin, err = harness.Binary()
	code := 1
	if err != nil {
		fmt.Fprintf(os.Stderr, "durability: %v\n", err)
	} else {
		code = m.Run()
	}
	_ = os.RemoveAll(dir)
	harness.Cleanup()
	os.Exit(code)
}

// server is one `moat serve` process on a data directory.
type server struct {
	dataDir string
	url     string // http://127.0.0.1:PORT
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// startServer starts moat on dataDir and waits until it is ready: GET /v2/
// without a token answers 401 with a Bearer challenge.
// The process is killed when the test ends, whatever its outcome.
func startServer(t *testing.T, dataDir string) *server {
	t.Helper()
	port := freePort(t)
	return startServerArgs(t, dataDir, port, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
}

// startServerArgs is startServer with the listener on port configured by
// args (e.g. --config FILE) instead of --listen.
func startServerArgs(t *testing.T, dataDir string, port int, args ...string) *server {
	t.Helper()
	s := &server{
		dataDir: dataDir,
		url:     fmt.Sprintf("http://127.0.0.1:%d", port),
		logPath: filepath.Join(t.TempDir(), "server.log"),
		exited:  make(chan struct{}),
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(moatBin, append([]string{"serve", "--data-dir", dataDir}, args...)...)
	// The caller's MOAT_* variables are dropped; the password is set explicitly.
	s.cmd.Env = append(envWithoutMoat(), "MOAT_ADMIN_PASSWORD="+adminPassword)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start moat serve: %v", err)
	}
	go func() {
		_ = s.cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("server log %s:\n%s", s.logPath, s.log())
		}
	})
	s.waitReady(t)
	return s
}

func (s *server) waitReady(t *testing.T) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(serverStartMax); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-s.exited:
			t.Fatalf("moat serve exited before it was ready:\n%s", s.log())
		default:
		}
		resp, err := client.Get(s.url + "/v2/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				if _, err := parseChallenge(resp.Header.Get("WWW-Authenticate")); err == nil {
					return
				}
			}
			if resp.StatusCode == http.StatusOK {
				t.Fatalf("GET %s/v2/ without a token answered 200: the data plane does not require authentication", s.url)
			}
		}
	}
	t.Fatalf("GET %s/v2/ did not answer 401 with a Bearer challenge within %v:\n%s", s.url, serverStartMax, s.log())
}

// pid is the server's process ID.
func (s *server) pid() int { return s.cmd.Process.Pid }

// kill ends the process with SIGKILL (no chance to clean up) and waits for it.
func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

func (s *server) log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// createRegistry creates a Premium registry with `moat acr create`.
func (s *server) createRegistry(t *testing.T, name string) {
	t.Helper()
	login := exec.Command(moatBin, "login", "--server", s.url, "-u", "admin", "-p", "-", "-o", "none")
	login.Env = envWithoutMoat()
	login.Stdin = strings.NewReader(adminPassword + "\n")
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("moat login as admin: %v\n%s", err, out)
	}
	cmd := exec.Command(moatBin, "acr", "create", "--name", name, "--sku", "Premium", "--server", s.url, "-o", "none")
	cmd.Env = envWithoutMoat()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("moat acr create --name %s: %v\n%s", name, err, out)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// sandboxHome is the HOME of the servers and CLI runs, so that nothing they
// do touches the user's own configuration or credentials.
var sandboxHome string

// envWithoutMoat is the environment minus MOAT_* so that a developer's
// settings cannot change the server under test, with HOME and the client
// configuration directories moved to sandboxHome.
func envWithoutMoat() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "MOAT_"), k == "HOME", k == "DOCKER_CONFIG", k == "XDG_CONFIG_HOME":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+sandboxHome, "DOCKER_CONFIG="+filepath.Join(sandboxHome, ".docker"),
		"XDG_CONFIG_HOME="+filepath.Join(sandboxHome, ".config"))
}
