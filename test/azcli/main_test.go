package azcli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/moat-registry/moat/test/harness"
)

var (
	// tmpRoot holds every run's files; TestMain removes it.
	tmpRoot string
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
	harness.Cleanup()
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
	if root, err := harness.RepoRoot(); err == nil {
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

// buildMoat returns the moat binary of the run (test/harness: MOAT_BIN, or
// ./cmd/moat built once).
func buildMoat(t *testing.T) string { return harness.MustBinary(t) }

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
