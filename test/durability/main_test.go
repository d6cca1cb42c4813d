// Package durability starts real `moat serve` processes, kills them with
// SIGKILL in the middle of blob uploads and checks what survives a restart,
// and measures the server's memory while it streams a large blob.
package durability

import (
	"context"
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
)

const serverStartMax = 60 * time.Second

// moatBin is the binary built once by TestMain.
var moatBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "moat-durability-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "durability: %v\n", err)
		os.Exit(1)
	}
	moatBin, err = buildMoat(dir)
	code := 1
	if err != nil {
		fmt.Fprintf(os.Stderr, "durability: %v\n", err)
	} else {
		code = m.Run()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildMoat runs `go build ./cmd/moat` in the module root into dir.
func buildMoat(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "moat")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/moat")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/moat in %s: %v\n%s", root, err, out)
	}
	return bin, nil
}

// server is one `moat serve` process on a data directory.
type server struct {
	dataDir string
	url     string // http://127.0.0.1:PORT
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// startServer starts moat on dataDir and waits until GET /v2/ answers 200.
// The process is killed when the test ends, whatever its outcome.
func startServer(t *testing.T, dataDir string) *server {
	t.Helper()
	port := freePort(t)
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
	s.cmd = exec.Command(moatBin, "serve", "--data-dir", dataDir, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	s.cmd.Env = envWithoutMoat()
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
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("GET %s/v2/ did not answer 200 within %v:\n%s", s.url, serverStartMax, s.log())
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

// envWithoutMoat is the environment minus MOAT_* so that a developer's
// settings cannot change the server under test.
func envWithoutMoat() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MOAT_") {
			env = append(env, kv)
		}
	}
	return env
}
