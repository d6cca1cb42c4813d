package tasks

import "testing"

const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseFileAndRef(t *testing.T) {
	f, err := ParseFile([]byte("version: v1.1.0\nsteps:\n  - cmd: copy\n    from: h:5000/base/node:15\n    to: $Registry/node:$RunID\n  - cmd: delete\n    ref: $Registry/node:old\n"))
	if err != nil || len(f.Steps) != 2 {
		t.Fatalf("%v %v", f, err)
	}
	for _, bad := range []string{"steps: []", "steps:\n  - cmd: build\n", "steps:\n  - cmd: copy\n    from: a/b\n", "steps:\n  - cmd: copy\n    frm: x\n"} {
		if _, err := ParseFile([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	r, err := ParseRef(Expand("$Registry/node:$RunID", "h:5000/apps", "ca3"))
	if err != nil || r.Host != "h:5000" || r.Repo != "apps/node" || r.Tag != "ca3" {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = ParseRef("h:5000/apps/node@" + dgst)
	if err != nil || r.Digest != dgst || r.Tag != "" || r.Repo != "apps/node" {
		t.Fatalf("%+v %v", r, err)
	}
	if r, _ := ParseRef("h/x"); r.Tag != "latest" {
		t.Fatalf("default tag: %+v", r)
	}
	for _, bad := range []string{"node", "h/", "h/Node:1", "h/../admin", "h/x@sha256:abc", "h?q/x", "u@h/x", "h:0/x", "h/x:-t", "[::1/x"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestParseFileAzVersionLine: az acr task create --file puts "version:
// v1.1.0" before the file's own text, so a file with its own version line
// reaches the server with the key twice; the file's own (last) one counts.
// Other duplicate keys are still refused.
func TestParseFileAzVersionLine(t *testing.T) {
	file := "version: v1.0.0\nsteps:\n  - cmd: delete\n    ref: $Registry/node:old\n"
	f, err := ParseFile([]byte("version: v1.1.0\n" + file))
	if err != nil || f.Version != "v1.0.0" || len(f.Steps) != 1 {
		t.Fatalf("%+v %v", f, err)
	}
	for _, bad := range []string{
		"version: v1.1.0\nsteps: []\nsteps:\n  - cmd: delete\n    ref: a/b\n",
		"version: v1.1.0\nsteps:\n  - cmd: delete\n    ref: a/b\n    ref: c/d\n",
	} {
		if _, err := ParseFile([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
