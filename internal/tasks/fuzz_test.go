package tasks

import (
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/oci/names"
)

// FuzzParseFile: any bytes give a task file whose steps are complete, or an
// error; never a panic.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte("version: v1.1.0\nsteps:\n  - cmd: copy\n    from: h:5000/base/node:15\n    to: $Registry/node:$RunID\n"))
	f.Add([]byte("steps:\n  - cmd: delete\n    ref: $Registry/node:old\n"))
	f.Add([]byte("steps: &a [*a]\n"))
	f.Add([]byte("steps:\n  - {cmd: tag, from: a, to: b}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := ParseFile(b)
		if err != nil {
			return
		}
		for _, s := range file.Steps {
			if s.Cmd == "delete" && s.Ref == "" || s.Cmd != "delete" && (s.From == "" || s.To == "") {
				t.Fatalf("incomplete step accepted: %+v", s)
			}
		}
	})
}

// FuzzParseRef: an accepted image reference has parts that are valid in a
// request path and Host header, and prints back to itself.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"h:5000/apps/node:15", "h/x", "h/x@" + dgst, "[::1]:5000/a/b:c", "reg.example.com/a__b/c-d.e:v1.0", "h/../x", "h/x?y", "a@b/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(r.Host, "/?#@ \\") || !validHost(r.Host) || !names.ValidRepository(r.Repo) {
			t.Fatalf("%q: accepted %+v", s, r)
		}
		if _, ok := names.ParseDigest(r.Digest); r.Digest != "" && !ok || r.Tag != "" && !names.ValidTag(r.Tag) {
			t.Fatalf("%q: accepted reference %+v", s, r)
		}
		again, err := ParseRef(r.String())
		if err != nil || again.String() != r.String() {
			t.Fatalf("%q -> %q -> %+v, %v", s, r.String(), again, err)
		}
	})
}
