package scopemap

import (
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/oci/names"
)

// FuzzParse: Parse never panics; what it accepts is canonical (parses back
// to itself) and covers only valid repository names of its prefix.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"repositories/hello/content/read", "repositories/samples/*/metadata/write", "repositories/*/content/delete",
		"repositories/a*/content/read", "gateway/x/config/read", "repositories//content/read", "repositories/A/B/CONTENT/WRITE",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		back, err := Parse(a.String())
		if err != nil || back != a {
			t.Fatalf("Parse(%q) = %s, which parses back as %v, %v", s, a, back, err)
		}
		if !a.Prefix && !names.ValidRepository(a.Repo) {
			t.Fatalf("Parse(%q) accepted repository %q", s, a.Repo)
		}
		if a.Prefix && a.Repo != "" && !strings.HasSuffix(a.Repo, "/") {
			t.Fatalf("Parse(%q): prefix %q does not end at a component", s, a.Repo)
		}
		if !a.Covers(strings.TrimSuffix(a.Repo, "/")+map[bool]string{true: "/x", false: ""}[a.Prefix], a.Perm) {
			t.Fatalf("Parse(%q) = %s does not cover its own repository", s, a)
		}
	})
}
