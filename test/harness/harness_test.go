package harness

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// TestBinary: the binary runs, and a second call returns the same one.
func TestBinary(t *testing.T) {
	bin := MustBinary(t)
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "serve") {
		t.Fatalf("%s --help: %v\n%s", bin, err, out)
	}
	if again := MustBinary(t); again != bin {
		t.Fatalf("second Binary: %s, first %s", again, bin)
	}
}

// TestProcess: output goes to the log, Stop ends a process that ignores
// nothing, and Err reports how it ended.
func TestProcess(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	p, err := Start(exec.Command("sh", "-c", "echo started; exec sleep 60"), log)
	if err != nil {
		t.Fatal(err)
	}
	for p.Running() && !strings.Contains(p.LogTail(5), "started") {
		time.Sleep(10 * time.Millisecond)
	}
	if !p.Running() {
		t.Fatalf("exited early: %v", p.Err())
	}
	p.Stop()
	if p.Running() || p.Err() == nil {
		t.Fatalf("after Stop: running %v, err %v", p.Running(), p.Err())
	}
	if tail := p.LogTail(5); !strings.Contains(tail, "started") {
		t.Fatalf("log: %s", tail)
	}
}
