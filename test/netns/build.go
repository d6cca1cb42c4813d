package netns

import (
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"testing"
)

// BuildGo builds the Go main package pkg (an import path, or a directory
// relative to the test's working directory such as ./testdata/echo) into the
// test's temporary directory and returns the binary's path.
func BuildGo(t testing.TB, pkg string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if root := os.Getenv("GOROOT"); root != "" {
			goBin = filepath.Join(root, "bin", "go")
		} else {
			t.Fatal("netns: the go command is not on PATH")
		}
	}
	out := filepath.Join(t.TempDir(), path.Base(filepath.ToSlash(pkg)))
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("netns: go build %s: %v\n%s", pkg, err, b)
	}
	return out
}
