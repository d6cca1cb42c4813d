package oci_test

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var linkRE = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// nextLink returns the path of a response's Link rel="next" header, "" if none.
func nextLink(t testing.TB, r *response) string {
	t.Helper()
	l := r.header.Get("Link")
	if l == "" {
		return ""
	}
	m := linkRE.FindStringSubmatch(l)
	if m == nil {
		t.Fatalf("malformed Link %q", l)
	}
	return m[1]
}

// list GETs path and returns the named JSON string-array field and the next
// link. (A null list is tolerated here; TestEmptyListsAreArrays checks for it.)
func (e *env) list(t testing.TB, host, path, field string) ([]string, string) {
	t.Helper()
	r := e.do(t, "GET", host, path, nil)
	want(t, r, 200)
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("list body: %v: %s", err, r.desc)
	}
	var items []string
	if err := json.Unmarshal(body[field], &items); err != nil || body[field] == nil {
		t.Fatalf("list field %q: %v: %s", field, err, r.desc)
	}
	return items, nextLink(t, r)
}

// listAll follows Link headers from path and returns every page.
func (e *env) listAll(t testing.TB, host, path, field string, n int) [][]string {
	t.Helper()
	var pages [][]string
	for path != "" && len(pages) < 100 {
		items, next := e.list(t, host, path, field)
		if len(items) > n {
			t.Fatalf("%s: page of %d > n=%d", path, len(items), n)
		}
		if next != "" {
			u, err := url.Parse(next)
			if err != nil || u.Query().Get("n") != itoa(n) || u.Query().Get("last") != items[len(items)-1] {
				t.Fatalf("next link %q after page %q", next, items)
			}
		}
		pages = append(pages, items)
		path = next
	}
	return pages
}

func TestTagList(t *testing.T) {
	tags := []string{"A", "b-1", "latest", "v1", "v1.0", "v2", "_x"}
	for _, s := range styles {
		t.Run(s.name, func(t *testing.T) {
			e := newEnv(t)
			name := s.repo("team/app")
			im := e.pushImage(t, s.host, name, "", "x")
			q := ""
			for _, tag := range tags {
				q += "&tag=" + tag
			}
			want(t, e.do(t, "PUT", s.host, "/v2/"+name+"/manifests/"+im.digest.String()+"?"+q[1:], im.manifest, "Content-Type", ocispec.MediaTypeImageManifest), 201)
			all := sorted(tags)

			r := e.do(t, "GET", s.host, "/v2/"+name+"/tags/list", nil)
			want(t, r, 200)
			var tl struct {
				Name string   `json:"name"`
				Tags []string `json:"tags"`
			}
			if err := json.Unmarshal(r.body, &tl); err != nil || tl.Name != name || !slices.Equal(tl.Tags, all) || r.header.Get("Link") != "" {
				t.Fatalf("full list: %s", r.desc)
			}
			for _, n := range []int{1, 2, 3, len(all) - 1, len(all), len(all) + 5} {
				pages := e.listAll(t, s.host, "/v2/"+name+"/tags/list?n="+itoa(n), "tags", n)
				if got := slices.Concat(pages...); !slices.Equal(got, all) {
					t.Errorf("n=%d: pages %q", n, pages)
				}
				if wantPages := max(1, (len(all)+n-1)/n); len(pages) != wantPages {
					t.Errorf("n=%d: %d pages, want %d (no Link on the last page)", n, len(pages), wantPages)
				}
			}
			got, next := e.list(t, s.host, "/v2/"+name+"/tags/list?last=latest", "tags")
			if !slices.Equal(got, all[slices.Index(all, "latest")+1:]) || next != "" {
				t.Errorf("last=latest: %q next %q", got, next)
			}
			got, next = e.list(t, s.host, "/v2/"+name+"/tags/list?n=2&last=b-1", "tags")
			if !slices.Equal(got, []string{"latest", "v1"}) || next == "" {
				t.Errorf("n=2&last=b-1: %q next %q", got, next)
			}
			got, next = e.list(t, s.host, "/v2/"+name+"/tags/list?n=2&last=v1", "tags")
			if !slices.Equal(got, []string{"v1.0", "v2"}) || next != "" {
				t.Errorf("n=2&last=v1 (the last page): %q next %q", got, next)
			}
			got, next = e.list(t, s.host, "/v2/"+name+"/tags/list?last=zzz", "tags")
			if len(got) != 0 || next != "" {
				t.Errorf("after the last tag: %q next %q", got, next)
			}
			wantErr(t, e.do(t, "GET", s.host, "/v2/"+s.repo("nosuch")+"/tags/list", nil), 404, "NAME_UNKNOWN")
			for _, bad := range []string{"x", "-1", "1.5", "99999999999999999999999"} {
				if r := e.do(t, "GET", s.host, "/v2/"+name+"/tags/list?n="+bad, nil); r.status < 400 {
					t.Errorf("n=%s accepted: %s", bad, r.desc)
				}
			}
		})
	}
}

func TestCatalog(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"alpha/app", "alpha/team/x", "alpha/team-y", "bravo/app", "bravo/zzz"} {
		e.pushBlob(t, "", name, []byte(name))
	}
	all := []string{"alpha/app", "alpha/team-y", "alpha/team/x", "bravo/app", "bravo/zzz"}
	alpha := []string{"app", "team-y", "team/x"}
	for _, tc := range []struct {
		name, host, path string
		want             []string
	}{
		{"path style: every registry", "", "/v2/_catalog", all},
		{"path style: one registry", "", "/v2/alpha/_catalog", alpha},
		{"path style: one registry, any case", "", "/v2/Alpha/_catalog", alpha},
		{"host style", "alpha.reg.test", "/v2/_catalog", alpha},
		{"host style bravo", "bravo.reg.test:443", "/v2/_catalog", []string{"app", "zzz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, next := e.list(t, tc.host, tc.path, "repositories")
			if !slices.Equal(got, tc.want) || next != "" {
				t.Fatalf("catalog %q next %q, want %q", got, next, tc.want)
			}
			for _, n := range []int{1, 2, len(tc.want), len(tc.want) + 1} {
				pages := e.listAll(t, tc.host, tc.path+"?n="+itoa(n), "repositories", n)
				if got := slices.Concat(pages...); !slices.Equal(got, tc.want) {
					t.Errorf("n=%d: pages %q", n, pages)
				}
				if wantPages := (len(tc.want) + n - 1) / n; len(pages) != wantPages {
					t.Errorf("n=%d: %d pages, want %d", n, len(pages), wantPages)
				}
			}
		})
	}
	// last may fall between registries or name a registry alone.
	for last, wantAfter := range map[string][]string{
		"alpha":      all,
		"alpha/team": {"alpha/team-y", "alpha/team/x", "bravo/app", "bravo/zzz"},
		"alpha/zzz":  {"bravo/app", "bravo/zzz"},
		"b":          {"bravo/app", "bravo/zzz"},
		"bravo/zzz":  {},
		"zulu":       {},
	} {
		got, _ := e.list(t, "", "/v2/_catalog?last="+url.QueryEscape(last), "repositories")
		if !slices.Equal(got, wantAfter) && len(got)+len(wantAfter) > 0 {
			t.Errorf("last=%s: %q, want %q", last, got, wantAfter)
		}
	}
}

func TestReferrers(t *testing.T) {
	for _, s := range styles {
		t.Run(s.name, func(t *testing.T) {
			e := newEnv(t)
			name := s.repo("app")
			subject := e.pushImage(t, s.host, name, "v1", "subject")
			subj := &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: subject.digest, Size: int64(len(subject.manifest))}
			arts := map[string]digest.Digest{}
			for _, at := range []string{"application/vnd.test.sig", "application/vnd.test.sbom"} {
				body := newManifest(t, subject.config, subject.layer, at, subj)
				r := e.do(t, "PUT", s.host, "/v2/"+name+"/manifests/"+digest.FromBytes(body).String(), body, "Content-Type", ocispec.MediaTypeImageManifest)
				want(t, r, 201)
				if r.header.Get("OCI-Subject") != subject.digest.String() {
					t.Errorf("OCI-Subject = %q, want %s", r.header.Get("OCI-Subject"), subject.digest)
				}
				arts[at] = digest.FromBytes(body)
			}
			path := "/v2/" + name + "/referrers/" + subject.digest.String()

			r := e.do(t, "GET", s.host, path, nil)
			want(t, r, 200)
			if r.header.Get("Content-Type") != ocispec.MediaTypeImageIndex || r.header.Get("OCI-Filters-Applied") != "" {
				t.Errorf("unfiltered headers %v", r.header)
			}
			idx := decodeIndex(t, r)
			if len(idx.Manifests) != 2 {
				t.Fatalf("want 2 referrers: %s", r.desc)
			}
			for _, d := range idx.Manifests {
				if arts[d.ArtifactType] != d.Digest || d.MediaType != ocispec.MediaTypeImageManifest || d.Size <= 0 {
					t.Errorf("referrer descriptor %+v", d)
				}
			}

			r = e.do(t, "GET", s.host, path+"?artifactType="+url.QueryEscape("application/vnd.test.sig"), nil)
			want(t, r, 200)
			idx = decodeIndex(t, r)
			if r.header.Get("OCI-Filters-Applied") != "artifactType" || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != arts["application/vnd.test.sig"] {
				t.Errorf("filtered: %s %v", r.desc, r.header)
			}
			r = e.do(t, "GET", s.host, path+"?artifactType=application/none", nil)
			if idx := decodeIndex(t, r); len(idx.Manifests) != 0 || r.header.Get("OCI-Filters-Applied") != "artifactType" {
				t.Errorf("filter without match: %s", r.desc)
			}

			// A subject that does not exist has no referrers (not an error).
			for _, d := range []digest.Digest{digest.FromString("missing"), digest.SHA512.FromString("missing")} {
				r = e.do(t, "GET", s.host, "/v2/"+name+"/referrers/"+d.String(), nil)
				want(t, r, 200)
				if idx := decodeIndex(t, r); len(idx.Manifests) != 0 {
					t.Errorf("referrers of a missing subject: %s", r.desc)
				}
			}
			// Deleting a referrer removes it from the list.
			want(t, e.do(t, "DELETE", s.host, "/v2/"+name+"/manifests/"+arts["application/vnd.test.sbom"].String(), nil), 202)
			if idx := decodeIndex(t, e.do(t, "GET", s.host, path, nil)); len(idx.Manifests) != 1 {
				t.Errorf("after delete: %d referrers", len(idx.Manifests))
			}
		})
	}
}
