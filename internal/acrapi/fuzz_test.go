package acrapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestParseRoute(t *testing.T) {
	for path, want := range map[string]Route{
		"/acr/v1/_catalog":                    {Kind: KindCatalog},
		"/acr/v1/reg1/_catalog":               {Kind: KindCatalog, Name: "reg1"},
		"/acr/v1/team/app":                    {Kind: KindRepository, Name: "team/app"},
		"/acr/v1/team/app/_tags":              {Kind: KindTags, Name: "team/app"},
		"/acr/v1/team/app/_tags/":             {Kind: KindTags, Name: "team/app"},
		"/acr/v1/team/app/_tags/_v1":          {Kind: KindTag, Name: "team/app", Ref: "_v1"},
		"/acr/v1/app/_manifests":              {Kind: KindManifests, Name: "app"},
		"/acr/v1/app/_manifests/sha256:ab":    {Kind: KindManifest, Name: "app", Ref: "sha256:ab"},
		"/acr/v1/":                            {},
		"/acr/v1/_tags":                       {},
		"/acr/v1/app/_tags/a/b":               {},
		"/acr/v1/app/_other":                  {},
		"/acr/v1/app/_catalog/x":              {},
		"/v2/app/tags/list":                   {},
		"/acr/v1/app/_manifests/sha256:ab/xx": {},
	} {
		if got := ParseRoute(path); got != want {
			t.Errorf("%s: %+v, want %+v", path, got, want)
		}
	}
}

func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/acr/v1/_catalog", "/acr/v1/a/b/_tags/c", "/acr/v1/a/_manifests/sha256:00", "/acr/v1//_x/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt := ParseRoute(path)
		if rt.Kind == KindInvalid {
			return
		}
		if !strings.HasPrefix(path, "/acr/v1/") || strings.Contains(rt.Ref, "/") || rt.Kind.String() == "" {
			t.Fatalf("%q -> %+v", path, rt)
		}
		if rt.Kind != KindCatalog && (rt.Name == "" || strings.Contains(rt.Name, "/_")) {
			t.Fatalf("%q: name %q", path, rt.Name)
		}
	})
}

func FuzzParsePatch(f *testing.F) {
	for _, s := range []string{"", `{"writeEnabled":false}`, `{"deleteEnabled":true,"readEnabled":false,"listEnabled":true}`, `{"x":1}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parsePatch(body)
		if err != nil {
			return
		}
		// Whatever was accepted sets only the four attributes.
		_ = p.Apply(struct{ DeleteEnabled, WriteEnabled, ListEnabled, ReadEnabled bool }{})
	})
}

func FuzzParseListing(f *testing.F) {
	for _, s := range []string{"n=10&last=a", "orderby=timedesc&last=170~v1", "orderby=timeasc&last=v1", "n=-1", "orderby=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := &http.Request{URL: &url.URL{Path: "/acr/v1/a/_tags", RawQuery: query}}
		l, err := parseListing(r, true)
		if err != nil {
			return
		}
		if l.N < 0 || l.N > maxPage {
			t.Fatalf("%q: n=%d", query, l.N)
		}
	})
}
