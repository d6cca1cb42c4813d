// Package harness is what the end-to-end test packages under test/ share to
// run moat as users do, as a process: the binary (built once per test
// process, or $MOAT_BIN, which scripts/test builds once per run), free ports,
// and `moat serve` started in its own process group with its log in a file.
package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Module is moat's module path.
const Module = "github.com/moat-registry/moat"

var (
	binOnce sync.Once
	binPath string
	binDir  string // the temporary directory Binary built into
	binErr  error
)

// Binary returns the moat binary the tests run: $MOAT_BIN when set, else
// ./cmd/moat built once per test process, with CGO_ENABLED=0 as the
// Dockerfile builds it, into a temporary directory that Cleanup removes.
func Binary() (string, error) {
	binOnce.Do(func() { binPath, binErr = binary() })
	return binPath, binErr
}

// MustBinary is Binary for a test: it fails t when there is no binary.
func MustBinary(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func binary() (string, error) {
	if bin := os.Getenv("MOAT_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			return "", fmt.Errorf("MOAT_BIN: %w", err)
		}
		return abs, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	if binDir, err = os.MkdirTemp("", "moat-bin-"); err != nil {
		return "", err
	}
	bin := filepath.Join(binDir, "moat")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // room for a cold build cache
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/moat")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/moat: %v\n%s", err, out)
	}
	return bin, nil
}

// Cleanup removes the binary Binary built, if any. Call it after m.Run.
func Cleanup() {
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
}

// Main runs the package's tests, then Cleanup: func TestMain(m *testing.M) { harness.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// RepoRoot is the directory of moat's go.mod, found by walking up from the
// working directory (a test's package directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module "+Module+"\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s above the working directory", Module)
		}
		dir = parent
	}
}
