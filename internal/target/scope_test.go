package target

import (
	"testing"

	"github.com/moat-registry/moat/internal/auth/token"
)

func TestParseScope(t *testing.T) {
	cases := map[string]token.Access{
		"repository:app:pull":                 {Type: "repository", Name: "app", Actions: []string{"pull"}},
		"repository:reg1/team/app:pull,push":  {Type: "repository", Name: "reg1/team/app", Actions: []string{"pull", "push"}},
		"repository:localhost:5000/app:pull":  {Type: "repository", Name: "localhost:5000/app", Actions: []string{"pull"}},
		"registry:catalog:*":                  {Type: "registry", Name: "catalog", Actions: []string{"*"}},
		"repository:app:pull,pull,bogus,push": {Type: "repository", Name: "app", Actions: []string{"pull", "push"}},
		// ACR's metadata actions (the /acr/v1/ API).
		"repository:team/app:metadata_read":                  {Type: "repository", Name: "team/app", Actions: []string{"metadata_read"}},
		"repository:app:metadata_read,metadata_write,delete": {Type: "repository", Name: "app", Actions: []string{"metadata_read", "metadata_write", "delete"}},
	}
	for in, want := range cases {
		got, ok := ParseScope(in)
		if !ok || got.Type != want.Type || got.Name != want.Name || len(got.Actions) != len(want.Actions) {
			t.Errorf("%q -> %+v %v, want %+v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "repository", "repository:app", ":app:pull", "repository::pull", "repository:app:bogus"} {
		if _, ok := ParseScope(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseScope(f *testing.F) {
	f.Add("repository:reg1/app:pull,push")
	f.Add("registry:catalog:*")
	f.Add("repository:app:metadata_read,metadata_write")
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := ParseScope(s)
		if !ok {
			return
		}
		again, ok := ParseScope(FormatScope(a))
		if !ok || again.Type != a.Type || again.Name != a.Name || len(again.Actions) != len(a.Actions) {
			t.Fatalf("%q: %+v does not round-trip (%+v)", s, a, again)
		}
	})
}
