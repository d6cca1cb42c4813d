package tasks

import "testing"

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
	r, err = ParseRef("h:5000/apps/node@sha256:abc")
	if err != nil || r.Digest != "sha256:abc" || r.Tag != "" || r.Repo != "apps/node" {
		t.Fatalf("%+v %v", r, err)
	}
	if r, _ := ParseRef("h/x"); r.Tag != "latest" {
		t.Fatalf("default tag: %+v", r)
	}
	for _, bad := range []string{"node", "h/", "h/Node:1"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
