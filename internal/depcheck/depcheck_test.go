package depcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRules checks the module's real import graph against Rules.
func TestRules(t *testing.T) {
	g := moduleGraph(t)
	for _, r := range Rules {
		n := 0
		for p := range g {
			if matchAny(r.From, p) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("rule %q: no package matches From %v (did a package move? update rules.go)", r.Name, r.From)
		}
	}
	for _, v := range Check(g, Rules) {
		t.Error(v)
	}
}

// moduleGraph is the import graph of the module's packages and everything
// they depend on, without test files (go list -deps).
func moduleGraph(t *testing.T) Graph {
	t.Helper()
	statSources(t)
	cmd := exec.Command("go", "list", "-e", "-deps", "-json=ImportPath,Imports,Error", Module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	g := Graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Imports    []string
			Error      *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			t.Fatalf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		g[p.ImportPath] = p.Imports
	}
	if len(g) == 0 {
		t.Fatal("go list listed no packages")
	}
	return g
}

// statSources stats every directory and .go file of the module so that go
// test's cache, which does not see what go list read, reruns the test when
// an import changes.
func statSources(t *testing.T) {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			_, err = os.Stat(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCheckFindsViolations shows that Check reports a forbidden import,
// direct or through another package, and only under the rule's From.
func TestCheckFindsViolations(t *testing.T) {
	m := func(p string) string { return Module + "/" + p }
	g := Graph{
		m("internal/network/netguard"): {m("internal/network/policy"), "net/http"},
		m("internal/network/policy"):   {m("internal/network/netid")},
		m("internal/network/netid"):    {"net/http"},
		m("internal/oci"):              {m("internal/server")},
		m("internal/server"):           {m("internal/oci")},
		m("internal/store/meta"):       {m("internal/store")},
		m("internal/store"):            {},
		"net/http":                     {},
	}
	rules := []Rule{
		{Name: "no server", From: []string{"internal/oci/..."}, Forbid: []string{"internal/server/..."}},
		{Name: "no http", From: []string{"internal/network/policy"}, Forbid: []string{"net/http/..."}},
		{Name: "no http direct", From: []string{"internal/network/policy"}, Forbid: []string{"net/http/..."}, Direct: true},
		{Name: "no sdk", From: []string{"internal/store/meta"}, Forbid: []string{"github.com/aws/..."}},
	}
	var got []string
	for _, v := range Check(g, rules) {
		got = append(got, v.String())
	}
	want := []string{
		"no server: " + m("internal/oci") + " -> " + m("internal/server"),
		"no http: " + m("internal/network/policy") + " -> " + m("internal/network/netid") + " -> net/http",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n got %q\nwant %q", got, want)
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"internal/oci/...", Module + "/internal/oci", true},
		{"internal/oci/...", Module + "/internal/oci/errcode", true},
		{"internal/oci/...", Module + "/internal/ocix", false},
		{"internal/store/meta", Module + "/internal/store/meta/postgres", false},
		{"net/http/...", "net/http/httptest", true},
		{"net/http/...", "net/netip", false},
		{"github.com/aws/...", "github.com/aws/aws-sdk-go-v2/service/s3", true},
	} {
		if got := match(c.pattern, c.path); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}
