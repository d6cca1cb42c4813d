package azcli

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

var (
	// tmpRoot holds the moat binary and every run's files; TestMain removes it.
	tmpRoot string
	// moatBin is built once, on first use.
	moatBinOnce sync.Once
	moatBin     string
	moatBinErr  error
	// gaps collects the pending steps that failed as expected (the report).
	gaps gapReport
)

func TestMain(m *testing.M) {
	var err error
	if tmpRoot, err = os.MkdirTemp("", "moat-azcli-"); err != nil {
		fmt.Fprintln(os.Stderr, "azcli:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := gaps.write(os.Getenv("MOAT_AZCLI_REPORT")); err != nil {
		fmt.Fprintln(os.Stderr, "azcli: writing the known-gaps report:", err)
		code = 1
	}
	_ = os.RemoveAll(tmpRoot)
	os.Exit(code)
}

// requireTools skips the test (fails it with MOAT_E2E=1) when a program it
// needs is missing, and skips it when not root (the per-command /etc/hosts
// needs a mount namespace).
func requireTools(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("not root: the Azure CLI test gives each az command its own /etc/hosts in a mount namespace (unshare -m), which needs root")
	}
	for _, tool := range []string{"az", "unshare", "mount", "bash", "crane"} {
		if _, err := lookTool(tool); err != nil {
			msg := fmt.Sprintf("%s not found (az: apt-get install azure-cli; crane: scripts/install-test-deps)", tool)
			if os.Getenv("MOAT_E2E") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// toolsBin is where scripts/install-test-deps puts crane.
func toolsBin() string {
	if d := os.Getenv("MOAT_TOOLS_BIN"); d != "" {
		return d
	}
	if root, err := repoRoot(); err == nil {
		return filepath.Join(root, ".tools", "bin")
	}
	return ""
}

func lookTool(name string) (string, error) {
	if p := filepath.Join(toolsBin(), name); toolsBin() != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/moat-registry/moat\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no moat go.mod above %s", dir)
		}
		dir = parent
	}
}

// buildMoat returns the moat binary: MOAT_BIN, or ./cmd/moat built once.
func buildMoat(t *testing.T) string {
	t.Helper()
	moatBinOnce.Do(func() {
		if bin := os.Getenv("MOAT_BIN"); bin != "" {
			moatBin, moatBinErr = filepath.Abs(bin)
			return
		}
		root, err := repoRoot()
		if err != nil {
			moatBinErr = err
			return
		}
		moatBin = filepath.Join(tmpRoot, "moat")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", moatBin, "./cmd/moat")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			moatBinErr = fmt.Errorf("go build ./cmd/moat: %v\n%s", err, out)
		}
	})
	if moatBinErr != nil {
		t.Fatal(moatBinErr)
	}
	return moatBin
}

// gapReport lists the known gaps: pending steps and how they failed.
type gapReport struct {
	mu    sync.Mutex
	lines []string
}

func (g *gapReport) add(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lines = append(g.lines, fmt.Sprintf(format, args...))
}

// write saves the report to path (MOAT_AZCLI_REPORT; scripts/test prints it).
func (g *gapReport) write(path string) error {
	if path == "" {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	body := "no known gaps\n"
	if len(g.lines) > 0 {
		body = strings.Join(g.lines, "\n") + "\n"
	}
	return os.WriteFile(path, []byte(body), 0o644)
}
