package acrapi_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/store/meta"
)

// styles address registry alpha: path style on the server's own host with
// the registry as first path segment, host style on alpha.reg.test.
var styles = []struct{ name, host, prefix, loginServer string }{
	{"path", "", "alpha/", ""}, // loginServer: <server host>/alpha, set per env
	{"host", "alpha." + suffix, "", "alpha." + suffix},
}

// TestShapes checks every GET answer field by field, in both styles.
func TestShapes(t *testing.T) {
	e := newEnv(t)
	img := manifest("img")
	idx := manifest("idx")
	idx.MediaType = "application/vnd.oci.image.index.v1+json"
	idx.Props = &meta.ManifestProps{ImageSize: 10, References: []meta.Platform{{Digest: img.Digest, Architecture: "arm64", OS: "linux"}}}
	e.put("team/app", img, "v1", "latest")
	e.put("team/app", idx, "multi")
	e.put("other", manifest("o"))
	for _, s := range styles {
		t.Run(s.name, func(t *testing.T) {
			ls := s.loginServer
			if ls == "" {
				ls = strings.TrimPrefix(e.srv.URL, "http://") + "/alpha"
			}
			var repo map[string]any
			e.json("GET", s.host, "/acr/v1/"+s.prefix+"team/app", "", 200, &repo)
			want := map[string]any{"registry": ls, "imageName": "team/app", "manifestCount": 2.0, "tagCount": 3.0,
				"changeableAttributes": map[string]any{"deleteEnabled": true, "writeEnabled": true, "readEnabled": true, "listEnabled": true}}
			for k, v := range want {
				if !jsonEqual(repo[k], v) {
					t.Errorf("repository %s = %v, want %v", k, repo[k], v)
				}
			}
			for _, k := range []string{"createdTime", "lastUpdateTime"} {
				if _, err := time.Parse(time.RFC3339Nano, repo[k].(string)); err != nil {
					t.Errorf("repository %s %v: %v", k, repo[k], err)
				}
			}
			var tag struct {
				Registry, ImageName string
				Tag                 map[string]any
			}
			e.json("GET", s.host, "/acr/v1/"+s.prefix+"team/app/_tags/v1", "", 200, &tag)
			if tag.Registry != ls || tag.ImageName != "team/app" || tag.Tag["name"] != "v1" || tag.Tag["digest"] != img.Digest.String() ||
				tag.Tag["signed"] != false || tag.Tag["createdTime"] == nil || tag.Tag["changeableAttributes"] == nil {
				t.Errorf("tag: %+v", tag)
			}
			var man struct {
				Registry, ImageName string
				Manifest            map[string]any
			}
			e.json("GET", s.host, "/acr/v1/"+s.prefix+"team/app/_manifests/"+img.Digest.String(), "", 200, &man)
			m := man.Manifest
			if man.ImageName != "team/app" || m["digest"] != img.Digest.String() || m["imageSize"] != float64(img.Props.ImageSize) || m["architecture"] != "amd64" ||
				m["os"] != "linux" || m["mediaType"] != img.MediaType || m["configMediaType"] != img.Props.ConfigMediaType ||
				!jsonEqual(m["tags"], []any{"latest", "v1"}) || m["references"] != nil {
				t.Errorf("manifest: %+v", man)
			}
			man.Manifest = nil // json.Unmarshal would merge into the map
			e.json("GET", s.host, "/acr/v1/"+s.prefix+"team/app/_manifests/"+idx.Digest.String(), "", 200, &man)
			if refs := man.Manifest["references"]; !jsonEqual(refs, []any{map[string]any{"digest": img.Digest.String(), "architecture": "arm64", "os": "linux"}}) ||
				man.Manifest["architecture"] != nil {
				t.Errorf("index: %+v", man.Manifest)
			}
			var tags struct {
				Registry, ImageName string
				Tags                []map[string]any
			}
			e.json("GET", s.host, "/acr/v1/"+s.prefix+"team/app/_tags", "", 200, &tags)
			if tags.Registry != ls || len(tags.Tags) != 3 || tags.Tags[0]["name"] != "latest" {
				t.Errorf("tags: %+v", tags)
			}
			var ms struct {
				Registry, ImageName string
				Manifests           []map[string]any
			}
			e.json("GET", s.host, "/acr/v1/"+s.prefix+"team/app/_manifests", "", 200, &ms)
			if ms.ImageName != "team/app" || len(ms.Manifests) != 2 {
				t.Errorf("manifests: %+v", ms)
			}
			var cat struct{ Repositories []string }
			e.json("GET", s.host, "/acr/v1/"+s.prefix+"_catalog", "", 200, &cat)
			if !slices.Equal(cat.Repositories, []string{"other", "team/app"}) {
				t.Errorf("catalog: %v", cat.Repositories)
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestNotFound: ACR's codes for what is not there.
func TestNotFound(t *testing.T) {
	e := newEnv(t)
	e.put("app", manifest("x"), "v1")
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/acr/v1/alpha/nope", 404, "NAME_UNKNOWN"},
		{"GET", "/acr/v1/alpha/nope/_tags", 404, "NAME_UNKNOWN"},
		{"GET", "/acr/v1/alpha/nope/_manifests", 404, "NAME_UNKNOWN"},
		{"DELETE", "/acr/v1/alpha/nope", 404, "NAME_UNKNOWN"},
		{"PATCH", "/acr/v1/alpha/nope", 404, "NAME_UNKNOWN"},
		{"GET", "/acr/v1/alpha/app/_tags/v9", 404, "TAG_UNKNOWN"},
		{"DELETE", "/acr/v1/alpha/app/_tags/v9", 404, "TAG_UNKNOWN"},
		{"PATCH", "/acr/v1/alpha/app/_tags/v9", 404, "TAG_UNKNOWN"},
		{"GET", "/acr/v1/alpha/app/_manifests/sha256:" + strings.Repeat("0", 64), 404, "MANIFEST_UNKNOWN"},
		{"GET", "/acr/v1/alpha/app/_manifests/latest", 400, "DIGEST_INVALID"},
		{"GET", "/acr/v1/nosuchreg/app", 404, "NAME_UNKNOWN"},
		{"GET", "/acr/v1/alpha/App", 400, "NAME_INVALID"},
		{"GET", "/acr/v1/_catalog", 404, "NAME_UNKNOWN"}, // path style: name the registry
		{"DELETE", "/acr/v1/alpha/app/_manifests/sha256:" + strings.Repeat("0", 64), 405, "UNSUPPORTED"},
		{"POST", "/acr/v1/alpha/app", 405, "UNSUPPORTED"},
		{"GET", "/acr/v1/alpha/app/_bogus", 404, "UNSUPPORTED"},
		{"GET", "/acr/v1/alpha/app/_tags/v1/x", 404, "UNSUPPORTED"},
	} {
		e.wantErr(e.do(c.method, "", c.path, ""), c.status, c.code)
	}
}

// TestNeeds: each request asks the token check for ACR's action, before it
// reads a body (the SDKs' first request is an unauthenticated probe).
func TestNeeds(t *testing.T) {
	e := newEnv(t)
	e.put("app", manifest("x"), "v1")
	d := manifest("x").Digest.String()
	for _, c := range []struct {
		method, path, body string
		want               token.Access
	}{
		{"GET", "/acr/v1/alpha/app", "", token.Access{Type: "repository", Name: "alpha/app", Actions: []string{"metadata_read"}}},
		{"GET", "/acr/v1/alpha/app/_tags", "", token.Access{Type: "repository", Name: "alpha/app", Actions: []string{"metadata_read"}}},
		{"GET", "/acr/v1/alpha/app/_manifests/" + d, "", token.Access{Type: "repository", Name: "alpha/app", Actions: []string{"metadata_read"}}},
		{"PATCH", "/acr/v1/alpha/app/_tags/v1", "not json", token.Access{Type: "repository", Name: "alpha/app", Actions: []string{"metadata_write"}}},
		{"PATCH", "/acr/v1/alpha/app", "{", token.Access{Type: "repository", Name: "alpha/app", Actions: []string{"metadata_write"}}},
		{"DELETE", "/acr/v1/alpha/app/_tags/v1", "", token.Access{Type: "repository", Name: "alpha/app", Actions: []string{"delete"}}},
		{"DELETE", "/acr/v1/alpha/app", "", token.Access{Type: "repository", Name: "alpha/app", Actions: []string{"delete"}}},
		{"GET", "/acr/v1/alpha/_catalog", "", token.Access{Type: "registry", Name: "catalog", Actions: []string{"*"}}},
	} {
		e.gate.needs, e.gate.deny = nil, true
		r := e.do(c.method, "", c.path, c.body)
		e.wantErr(r, 401, "UNAUTHORIZED")
		if len(e.gate.needs) != 1 || !jsonEqual(e.gate.needs[0], c.want) {
			t.Errorf("%s %s needed %+v, want %+v", c.method, c.path, e.gate.needs, c.want)
		}
	}
	// Host style: the scope names the repository without the registry.
	e.gate.needs, e.gate.deny = nil, false
	e.json("GET", "alpha."+suffix, "/acr/v1/app/_tags", "", 200, nil)
	if !jsonEqual(e.gate.needs, []token.Access{{Type: "repository", Name: "app", Actions: []string{"metadata_read"}}}) {
		t.Errorf("host style needed %+v", e.gate.needs)
	}
}

// TestPatchAndLocks: attribute changes answer with the new state, and the
// locks they set hold for the API's own deletes.
func TestPatchAndLocks(t *testing.T) {
	e := newEnv(t)
	m := manifest("x")
	e.put("app", m, "v1")
	var tag struct {
		Tag struct{ ChangeableAttributes map[string]bool }
	}
	e.json("PATCH", "", "/acr/v1/alpha/app/_tags/v1", `{"writeEnabled":false}`, 200, &tag)
	if a := tag.Tag.ChangeableAttributes; a["writeEnabled"] || !a["deleteEnabled"] || !a["readEnabled"] || !a["listEnabled"] {
		t.Fatalf("tag after PATCH: %+v", a)
	}
	msg := e.wantErr(e.do("DELETE", "", "/acr/v1/alpha/app/_tags/v1", ""), 405, "REGISTRY_DISALLOWED_OPERATION")
	if !strings.Contains(msg, "moat acr repository update --name alpha --image app:v1 --write-enabled true") {
		t.Fatalf("message: %s", msg)
	}
	e.wantErr(e.do("DELETE", "", "/acr/v1/alpha/app", ""), 405, "REGISTRY_DISALLOWED_OPERATION")
	e.json("PATCH", "", "/acr/v1/alpha/app/_tags/v1", `{"writeEnabled":true}`, 200, nil)
	var repo struct{ ChangeableAttributes map[string]bool }
	e.json("PATCH", "", "/acr/v1/alpha/app", `{"deleteEnabled":false,"listEnabled":false}`, 200, &repo)
	if a := repo.ChangeableAttributes; a["deleteEnabled"] || a["listEnabled"] || !a["writeEnabled"] {
		t.Fatalf("repository after PATCH: %+v", a)
	}
	var cat struct{ Repositories []string }
	e.json("GET", "", "/acr/v1/alpha/_catalog", "", 200, &cat)
	if len(cat.Repositories) != 0 {
		t.Fatalf("a hidden repository is listed: %v", cat.Repositories)
	}
	msg = e.wantErr(e.do("DELETE", "", "/acr/v1/alpha/app", ""), 405, "REGISTRY_DISALLOWED_OPERATION")
	if !strings.Contains(msg, "--repository app --delete-enabled true") {
		t.Fatalf("message: %s", msg)
	}
	var man struct {
		Manifest struct{ ChangeableAttributes map[string]bool }
	}
	e.json("PATCH", "", "/acr/v1/alpha/app/_manifests/"+m.Digest.String(), `{"readEnabled":false}`, 200, &man)
	if man.Manifest.ChangeableAttributes["readEnabled"] {
		t.Fatal("manifest PATCH did not apply")
	}
	e.json("PATCH", "", "/acr/v1/alpha/app", `{"deleteEnabled":true}`, 200, nil)
	var del struct{ ManifestsDeleted, TagsDeleted []string }
	e.json("DELETE", "", "/acr/v1/alpha/app", "", 202, &del)
	if !slices.Equal(del.ManifestsDeleted, []string{m.Digest.String()}) || !slices.Equal(del.TagsDeleted, []string{"v1"}) {
		t.Fatalf("deleted: %+v", del)
	}
	e.wantErr(e.do("GET", "", "/acr/v1/alpha/app", ""), 404, "NAME_UNKNOWN")
}

// TestBadPatch: a body that is not ACR's changeable attributes is refused
// with a message that shows the shape.
func TestBadPatch(t *testing.T) {
	e := newEnv(t)
	e.put("app", manifest("x"), "v1")
	for _, body := range []string{`{"writeEnable":false}`, `{"writeEnabled":"no"}`, `[true]`, `{"readEnabled":true} {}`, `{` + strings.Repeat(" ", 20<<10) + `}`} {
		msg := e.wantErr(e.do("PATCH", "", "/acr/v1/alpha/app/_tags/v1", body), 400, "BODY_INVALID")
		if !strings.Contains(msg, `"writeEnabled": true|false`) {
			t.Errorf("%.40q: message %q does not show the shape", body, msg)
		}
	}
	var tag struct {
		Tag struct{ ChangeableAttributes map[string]bool }
	}
	e.json("PATCH", "", "/acr/v1/alpha/app/_tags/v1", "", 200, &tag) // empty: no change
	if !tag.Tag.ChangeableAttributes["writeEnabled"] {
		t.Fatal("an empty PATCH changed the tag")
	}
}
