package scopemap

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in, want string // want "" : refused
		errHas   string
	}{
		{"repositories/hello-world/content/read", "repositories/hello-world/content/read", ""},
		{"repositories/Hello-World/CONTENT/READ", "repositories/hello-world/content/read", ""},
		{"repositories/samples/app/metadata/write", "repositories/samples/app/metadata/write", ""},
		{"repositories/samples/*/content/delete", "repositories/samples/*/content/delete", ""},
		{"repositories/*/content/write", "repositories/*/content/write", ""},
		{"repositories/a/b/*/metadata/read", "repositories/a/b/*/metadata/read", ""},
		{"repositories/sample*/content/read", "", "wildcard"},
		{"repositories/*/hello/content/read", "", "wildcard"},
		{"repositories/**/content/read", "", "wildcard"},
		{"repositories//*/content/read", "", "prefix"},
		{"repositories/hello/content/execute", "", "permission"},
		{"repositories/hello/content", "", "permission"},
		{"repositories/content/read", "", "permission"},
		{"repositories//content/read", "", "repository"},
		{"repositories/../x/content/read", "", "repository"},
		{"gateway/conn/config/read", "", "connected registries"},
		{"registry/catalog", "", "invalid"},
		{"", "", "invalid"},
		{"repositories/" + strings.Repeat("a", 300) + "/content/read", "", "too long"},
	}
	for _, c := range cases {
		a, err := Parse(c.in)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("Parse(%q) = %v, want an error", c.in, a)
		case c.want == "" && !strings.Contains(err.Error(), c.errHas):
			t.Errorf("Parse(%q) error %q does not say %q", c.in, err, c.errHas)
		case c.want != "" && err != nil:
			t.Errorf("Parse(%q): %v", c.in, err)
		case c.want != "" && a.String() != c.want:
			t.Errorf("Parse(%q) = %s, want %s", c.in, a, c.want)
		}
	}
}

func TestAllows(t *testing.T) {
	acts, err := ParseAll([]string{
		"repositories/hello/content/read",
		"repositories/hello/content/write",
		"repositories/samples/*/content/read",
		"repositories/*/metadata/read",
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		repo, perm string
		want       bool
	}{
		{"hello", ContentRead, true},
		{"hello", ContentWrite, true},
		{"hello", ContentDelete, false},
		{"hello/sub", ContentRead, false}, // an exact name is no prefix
		{"hello2", ContentRead, false},
		{"samples/a", ContentRead, true},
		{"samples/a/b", ContentRead, true},
		{"samples", ContentRead, false}, // samples/* is below samples, not samples itself
		{"samplesx/a", ContentRead, false},
		{"samples/a", ContentWrite, false},
		{"anything/at/all", MetadataRead, true},
		{"anything", MetadataWrite, false},
	}
	for _, c := range cases {
		if got := Allows(acts, c.repo, c.perm); got != c.want {
			t.Errorf("Allows(%s, %s) = %v, want %v", c.repo, c.perm, got, c.want)
		}
	}
}

func TestParseAll(t *testing.T) {
	if _, err := ParseAll(nil); err == nil {
		t.Error("no actions accepted")
	}
	got, err := ParseAll([]string{"repositories/a/content/read", "REPOSITORIES/A/content/read"})
	if err != nil || len(got) != 1 {
		t.Errorf("duplicates: %v %v", got, err)
	}
	many := make([]string, MaxActions+1)
	for i := range many {
		many[i] = "repositories/a/content/read"
	}
	if _, err := ParseAll(many); err == nil {
		t.Error("too many actions accepted")
	}
}

func TestBuiltins(t *testing.T) {
	pull, ok := FindBuiltin("_REPOSITORIES_PULL")
	if !ok || !Allows(pull.Actions, "any/repo", ContentRead) || Allows(pull.Actions, "any", ContentWrite) {
		t.Errorf("_repositories_pull: %+v", pull)
	}
	push, _ := FindBuiltin("_repositories_push")
	if !Allows(push.Actions, "x", ContentWrite) || !Allows(push.Actions, "x", ContentRead) || Allows(push.Actions, "x", ContentDelete) {
		t.Errorf("_repositories_push: %+v", push)
	}
	admin, _ := FindBuiltin("_repositories_admin")
	for _, p := range Permissions {
		if !Allows(admin.Actions, "x/y", p) {
			t.Errorf("_repositories_admin lacks %s", p)
		}
	}
	for _, b := range Builtins {
		for _, a := range b.Actions {
			if back, err := Parse(a.String()); err != nil || back != a {
				t.Errorf("%s: %s does not parse back: %v", b.Name, a, err)
			}
		}
	}
}
