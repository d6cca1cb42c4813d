package acrapi

import (
	"net/http"
	"net/url"
	"testing"
)

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
