package acrapi_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// follow lists from path, following Link headers as the SDKs do, and
// returns the names of every item.
func (e *env) follow(host, path, field, key string) []string {
	e.t.Helper()
	var names []string
	for pages := 0; path != ""; pages++ {
		if pages > 100 {
			e.t.Fatalf("more than 100 pages from %s", path)
		}
		var page map[string]any
		r := e.json("GET", host, path, "", 200, &page)
		items, _ := page[field].([]any)
		for _, it := range items {
			if key == "" {
				names = append(names, it.(string))
			} else {
				names = append(names, it.(map[string]any)[key].(string))
			}
		}
		path = ""
		if link := r.header.Get("Link"); link != "" {
			if !strings.HasPrefix(link, "</acr/v1/") || !strings.HasSuffix(link, `>; rel="next"`) {
				e.t.Fatalf("Link %q", link)
			}
			path = link[1:strings.IndexByte(link, '>')]
		}
	}
	return names
}

func TestPaging(t *testing.T) {
	e := newEnv(t)
	var pushed []string
	for i := range 23 {
		tag := fmt.Sprintf("t%02d", (i*5)%23)
		e.put("app", manifest(tag), tag)
		pushed = append(pushed, tag)
	}
	byName := slices.Sorted(slices.Values(pushed))
	desc := slices.Clone(pushed)
	slices.Reverse(desc)
	for _, s := range styles {
		base := "/acr/v1/" + s.prefix + "app/_tags"
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"?n=5", byName}, {"?n=5&orderby=timeasc", pushed}, {"?n=7&orderby=timedesc", desc}, {"", byName}, {"?n=1000&orderby=timedesc", desc},
		} {
			if got := e.follow(s.host, base+c.query, "tags", "name"); !slices.Equal(got, c.want) {
				t.Errorf("%s %s:\n got %v\nwant %v", s.name, c.query, got, c.want)
			}
		}
		if got := e.follow(s.host, "/acr/v1/"+s.prefix+"app/_manifests?n=4&orderby=timedesc", "manifests", "digest"); len(got) != 23 {
			t.Errorf("%s manifests: %d", s.name, len(got))
		}
		if got := e.follow(s.host, "/acr/v1/"+s.prefix+"app/_manifests?n=4", "manifests", "digest"); !slices.IsSorted(got) || len(got) != 23 {
			t.Errorf("%s manifests by digest: %v", s.name, got)
		}
	}
	// A client may continue a time-ordered listing from a bare name.
	var page struct{ Tags []struct{ Name string } }
	e.json("GET", "", "/acr/v1/alpha/app/_tags?n=2&orderby=timedesc&last="+desc[3], "", 200, &page)
	if len(page.Tags) != 2 || page.Tags[0].Name != desc[4] || page.Tags[1].Name != desc[5] {
		t.Errorf("after a bare name: %+v", page)
	}
	e.wantErr(e.do("GET", "", "/acr/v1/alpha/app/_tags?orderby=timedesc&last=gone", ""), 404, "TAG_UNKNOWN")
	// The digest filter.
	e.put("app", manifest("t03"), "extra")
	var byDigest struct{ Tags []struct{ Name string } }
	e.json("GET", "", "/acr/v1/alpha/app/_tags?digest="+url.QueryEscape(manifest("t03").Digest.String()), "", 200, &byDigest)
	if len(byDigest.Tags) != 2 || byDigest.Tags[0].Name != "extra" || byDigest.Tags[1].Name != "t03" {
		t.Errorf("tags of one digest: %+v", byDigest)
	}
	// n=0 is an empty page without a next link; bad values are refused.
	r := e.json("GET", "", "/acr/v1/alpha/app/_tags?n=0", "", 200, &page)
	if len(page.Tags) != 0 || r.header.Get("Link") != "" {
		t.Errorf("n=0: %s", r.desc)
	}
	for _, q := range []string{"n=-1", "n=x", "orderby=newest", "orderby=timedesc&last=x~y"} {
		e.wantErr(e.do("GET", "", "/acr/v1/alpha/app/_tags?"+q, ""), 400, "PAGINATION_NUMBER_INVALID")
	}
	// The catalog pages by name.
	for _, r := range []string{"b", "a/x", "c"} {
		e.put(r, manifest(r))
	}
	if got := e.follow("", "/acr/v1/alpha/_catalog?n=2", "repositories", ""); !slices.Equal(got, []string{"a/x", "app", "b", "c"}) {
		t.Errorf("catalog: %v", got)
	}
}
