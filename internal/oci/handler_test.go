package oci_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/oci/manifest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestPing(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method, host, path string
		status             int
	}{
		{"GET", "", "/v2/", 200},
		{"GET", "", "/v2", 200},
		{"HEAD", "", "/v2/", 200},
		{"GET", "alpha.reg.test", "/v2/", 200},
		{"GET", "ALPHA.reg.test:443", "/v2/", 200},
		{"GET", "nosuch.reg.test", "/v2/", 404},
		{"POST", "", "/v2/", 405},
		{"GET", "", "/v3/", 404},
		{"GET", "", "/v2/alpha/app/unknown/x", 404},
	} {
		r := e.do(t, tc.method, tc.host, tc.path, nil)
		if r.status != tc.status {
			t.Errorf("want %d: %s", tc.status, r.desc)
		}
	}
}

// TestAddressing pushes in one style and pulls in both: path and host style
// address the same registry.
func TestAddressing(t *testing.T) {
	for _, s := range styles {
		t.Run(s.name, func(t *testing.T) {
			e := newEnv(t)
			name := s.repo("team/app")
			im := e.pushImage(t, s.host, name, "v1", s.name)
			for _, pull := range styles {
				pname := pull.repo("team/app")
				for _, ref := range []string{"v1", im.digest.String()} {
					r := e.do(t, "GET", pull.host, "/v2/"+pname+"/manifests/"+ref, nil)
					want(t, r, 200)
					if !bytes.Equal(r.body, im.manifest) || r.header.Get("Docker-Content-Digest") != im.digest.String() ||
						r.header.Get("Content-Type") != ocispec.MediaTypeImageManifest {
						t.Errorf("pulled manifest differs: %s %v", r.desc, r.header)
					}
					r = e.do(t, "HEAD", pull.host, "/v2/"+pname+"/manifests/"+ref, nil)
					want(t, r, 200)
					if len(r.body) != 0 || r.header.Get("Content-Length") != "" && r.header.Get("Content-Length") != itoa(len(im.manifest)) {
						t.Errorf("HEAD: %s %v", r.desc, r.header)
					}
				}
				want(t, e.do(t, "GET", pull.host, "/v2/"+pname+"/blobs/"+im.layer.Digest.String(), nil), 200)
			}
			// Registry names are case-insensitive in both styles.
			want(t, e.do(t, "GET", "", "/v2/ALPHA/team/app/manifests/v1", nil), 200)
			want(t, e.do(t, "GET", "Alpha.REG.test:8443", "/v2/team/app/manifests/v1", nil), 200)
		})
	}
}

func TestPushLocation(t *testing.T) {
	for _, s := range styles {
		e := newEnv(t)
		im := e.pushImage(t, s.host, s.repo("app"), "", s.name)
		r := e.do(t, "PUT", s.host, "/v2/"+s.repo("app")+"/manifests/v1", im.manifest, "Content-Type", ocispec.MediaTypeImageManifest)
		want(t, r, 201)
		if loc := r.header.Get("Location"); loc != "/v2/"+s.repo("app")+"/manifests/"+im.digest.String() {
			t.Errorf("%s style: Location %q", s.name, loc)
		}
	}
}

func TestUnknownRegistry(t *testing.T) {
	e := newEnv(t)
	d := digest.FromString("x").String()
	for _, tc := range []struct{ method, host, path string }{
		{"GET", "", "/v2/nosuch/app/manifests/v1"},
		{"PUT", "", "/v2/nosuch/app/manifests/v1"},
		{"GET", "", "/v2/nosuch/app/tags/list"},
		{"GET", "", "/v2/nosuch/app/blobs/" + d},
		{"POST", "", "/v2/nosuch/app/blobs/uploads/"},
		{"GET", "", "/v2/nosuch/app/referrers/" + d},
		{"GET", "", "/v2/nosuch/_catalog"},
		{"GET", "nosuch.reg.test", "/v2/app/manifests/v1"},
		{"GET", "nosuch.reg.test", "/v2/_catalog"},
		{"HEAD", "nosuch.reg.test", "/v2/app/manifests/v1"},
	} {
		r := e.do(t, tc.method, tc.host, tc.path, []byte("{}"))
		if r.status != 404 || tc.method != "HEAD" && errCode(r) != "NAME_UNKNOWN" {
			t.Errorf("want 404 NAME_UNKNOWN: %s", r.desc)
		}
	}
}

func TestInvalidRepositoryName(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("a", 256)
	for _, tc := range []struct{ host, name string }{
		{"", "alpha/../x"},
		{"", "alpha/./x"},
		{"", "alpha/%2e%2e/x"},
		{"", "alpha%2F..%2Fx"},
		{"", "alpha/.."},
		{"", "alpha/A"},
		{"", "alpha/App"},
		{"", "alpha//x"},
		{"", "alpha/x/"},
		{"", "alpha/x//y"},
		{"", "alpha/-x"},
		{"", "alpha/x-"},
		{"", "alpha/x..y"},
		{"", "alpha/x___y"},
		{"", "alpha/x%20y"},
		{"", "alpha/x%00y"},
		{"", "alpha/" + long},
		{"", "alpha/" + strings.Repeat("ab/", 100) + "c"},
		{"", "alpha"}, // no repository part
		{"", "alpha/"},
		{"alpha.reg.test", "../x"},
		{"alpha.reg.test", "x/.."},
		{"alpha.reg.test", "X"},
		{"alpha.reg.test", "x/"},
		{"alpha.reg.test", "/x"},
		{"alpha.reg.test", long},
	} {
		for _, ep := range []struct{ method, path string }{
			{"GET", "/manifests/latest"},
			{"PUT", "/manifests/latest"},
			{"GET", "/tags/list"},
			{"GET", "/blobs/" + digest.FromString("x").String()},
			{"POST", "/blobs/uploads/"},
			{"GET", "/blobs/uploads/0123456789abcdef0123456789abcdef"},
			{"GET", "/referrers/" + digest.FromString("x").String()},
		} {
			r := e.do(t, ep.method, tc.host, "/v2/"+tc.name+ep.path, []byte("{}"))
			if r.status != 400 || errCode(r) != "NAME_INVALID" {
				t.Errorf("want 400 NAME_INVALID: %s", r.desc)
			}
		}
	}
	// The longest valid name is accepted.
	ok := strings.Repeat("a", 255)
	wantErr(t, e.do(t, "GET", "", "/v2/alpha/"+ok+"/manifests/latest", nil), 404, "MANIFEST_UNKNOWN")
	wantErr(t, e.do(t, "GET", "alpha.reg.test", "/v2/"+ok+"/manifests/latest", nil), 404, "MANIFEST_UNKNOWN")
}

func TestInvalidDigest(t *testing.T) {
	e := newEnv(t)
	im := e.pushImage(t, "", "alpha/app", "v1", "x")
	bad := []string{
		"sha256:abc",
		"sha256:" + strings.ToUpper(im.digest.Encoded()),
		"sha256:" + im.digest.Encoded() + "0",
		"sha384:" + strings.Repeat("a", 96), // well-formed, unsupported algorithm
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"sha256:",
		":abc",
		"sha512:" + im.digest.Encoded(), // sha256 length
	}
	for _, d := range bad {
		for _, tc := range []struct{ method, path string }{
			{"GET", "/v2/alpha/app/manifests/" + d},
			{"DELETE", "/v2/alpha/app/manifests/" + d},
			{"PUT", "/v2/alpha/app/manifests/" + d},
			{"GET", "/v2/alpha/app/blobs/" + d},
			{"DELETE", "/v2/alpha/app/blobs/" + d},
			{"POST", "/v2/alpha/app/blobs/uploads/?digest=" + d},
			{"POST", "/v2/alpha/app/blobs/uploads/?mount=" + d + "&from=alpha/app"},
			{"GET", "/v2/alpha/app/referrers/" + d},
		} {
			r := e.do(t, tc.method, "", tc.path, im.manifest, "Content-Type", ocispec.MediaTypeImageManifest)
			if r.status != 400 || errCode(r) != "DIGEST_INVALID" {
				t.Errorf("want 400 DIGEST_INVALID: %s", r.desc)
			}
		}
	}
	// Blob paths take digests only.
	wantErr(t, e.do(t, "GET", "", "/v2/alpha/app/blobs/latest", nil), 400, "DIGEST_INVALID")
	// Content that does not match the digest in the URL.
	other := digest.FromString("other").String()
	wantErr(t, e.do(t, "PUT", "", "/v2/alpha/app/manifests/"+other, im.manifest, "Content-Type", ocispec.MediaTypeImageManifest), 400, "DIGEST_INVALID")
	wantErr(t, e.do(t, "POST", "", "/v2/alpha/app/blobs/uploads/?digest="+other, []byte("data")), 400, "DIGEST_INVALID")
}

func TestManifestInvalid(t *testing.T) {
	e := newEnv(t)
	im := e.pushImage(t, "", "alpha/app", "v1", "x")
	cfg := `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + im.config.Digest.String() + `","size":` + itoa(int(im.config.Size)) + `}`
	oci := ocispec.MediaTypeImageManifest
	for _, tc := range []struct{ name, ct, ref, body string }{
		{"bad JSON", oci, "v2", `{"schemaVersion":2,`},
		{"not an object", oci, "v2", `[1,2,3]`},
		{"empty body", oci, "v2", ``},
		{"schema 1", "application/vnd.docker.distribution.manifest.v1+prettyjws", "v2", `{"schemaVersion":1,"name":"app","tag":"v2","fsLayers":[]}`},
		{"schema 1 no type", "", "v2", `{"schemaVersion":1,"name":"app","tag":"v2","fsLayers":[]}`},
		{"no schemaVersion", oci, "v2", `{"mediaType":"` + oci + `","config":` + cfg + `,"layers":[]}`},
		{"content-type mismatch", ocispec.MediaTypeImageIndex, "v2", string(im.manifest)},
		{"unknown media type", "", "v2", `{"schemaVersion":2,"mediaType":"application/vnd.example+json","config":` + cfg + `}`},
		{"unknown content type", "application/vnd.example+json", "v2", `{"schemaVersion":2,"config":` + cfg + `}`},
		{"unparsable content type", "a/b; ===", "v2", string(im.manifest)},
		{"no config", oci, "v2", `{"schemaVersion":2,"mediaType":"` + oci + `","layers":[]}`},
		{"bad layer digest", oci, "v2", `{"schemaVersion":2,"mediaType":"` + oci + `","config":` + cfg + `,"layers":[{"mediaType":"x","digest":"sha256:zz","size":1}]}`},
		{"negative size", oci, "v2", `{"schemaVersion":2,"mediaType":"` + oci + `","config":` + strings.Replace(cfg, `"size":`, `"size":-`, 1) + `}`},
		{"index with config", ocispec.MediaTypeImageIndex, "v2", `{"schemaVersion":2,"config":` + cfg + `,"manifests":[]}`},
		{"bad tag", oci, "-v2", string(im.manifest)},
		{"bad tag param", oci, "v2?tag=ok&tag=.bad", string(im.manifest)},
	} {
		r := e.do(t, "PUT", "", "/v2/alpha/app/manifests/"+tc.ref, []byte(tc.body), "Content-Type", tc.ct)
		if r.status != 400 || errCode(r) != "MANIFEST_INVALID" {
			t.Errorf("%s: want 400 MANIFEST_INVALID: %s", tc.name, r.desc)
		}
	}
	// Nothing above was stored or tagged.
	wantErr(t, e.do(t, "GET", "", "/v2/alpha/app/manifests/v2", nil), 404, "MANIFEST_UNKNOWN")
	wantErr(t, e.do(t, "GET", "", "/v2/alpha/app/manifests/ok", nil), 404, "MANIFEST_UNKNOWN")
	wantErr(t, e.do(t, "GET", "", "/v2/alpha/app/manifests/-bad", nil), 400, "MANIFEST_INVALID")
}

func TestManifestSizeLimit(t *testing.T) {
	e := newEnv(t)
	im := e.pushImage(t, "", "alpha/app", "v1", "x")
	// Pad with JSON whitespace to exactly the limit: accepted.
	body := append(slices.Clone(im.manifest), bytes.Repeat([]byte(" "), manifest.MaxSize-len(im.manifest))...)
	want(t, e.do(t, "PUT", "", "/v2/alpha/app/manifests/big", body, "Content-Type", ocispec.MediaTypeImageManifest), 201)
	body = append(body, ' ')
	wantErr(t, e.do(t, "PUT", "", "/v2/alpha/app/manifests/toobig", body, "Content-Type", ocispec.MediaTypeImageManifest),
		http.StatusRequestEntityTooLarge, "MANIFEST_INVALID")
	wantErr(t, e.do(t, "GET", "", "/v2/alpha/app/manifests/toobig", nil), 404, "MANIFEST_UNKNOWN")
}

func TestManifestTagsAndDelete(t *testing.T) {
	for _, s := range styles {
		t.Run(s.name, func(t *testing.T) {
			e := newEnv(t)
			name := s.repo("app")
			im := e.pushImage(t, s.host, name, "", "x")
			r := e.do(t, "PUT", s.host, "/v2/"+name+"/manifests/v1?tag=a&tag=b", im.manifest, "Content-Type", ocispec.MediaTypeImageManifest)
			want(t, r, 201)
			if got := r.header.Values("OCI-Tag"); !slices.Equal(sorted(got), []string{"a", "b", "v1"}) {
				t.Errorf("OCI-Tag = %q", got)
			}
			if r.header.Get("OCI-Subject") != "" {
				t.Errorf("OCI-Subject on a manifest without subject: %v", r.header)
			}
			path := "/v2/" + name + "/manifests/"
			for _, tag := range []string{"a", "b", "v1"} {
				want(t, e.do(t, "GET", s.host, path+tag, nil), 200)
			}
			want(t, e.do(t, "DELETE", s.host, path+"a", nil), 202)
			wantErr(t, e.do(t, "GET", s.host, path+"a", nil), 404, "MANIFEST_UNKNOWN")
			wantErr(t, e.do(t, "DELETE", s.host, path+"a", nil), 404, "MANIFEST_UNKNOWN")
			want(t, e.do(t, "GET", s.host, path+"b", nil), 200)
			// Deleting by digest removes the manifest and every tag pointing at it.
			want(t, e.do(t, "DELETE", s.host, path+im.digest.String(), nil), 202)
			for _, ref := range []string{"b", "v1", im.digest.String()} {
				wantErr(t, e.do(t, "GET", s.host, path+ref, nil), 404, "MANIFEST_UNKNOWN")
			}
			wantErr(t, e.do(t, "DELETE", s.host, path+im.digest.String(), nil), 404, "MANIFEST_UNKNOWN")
			r = e.do(t, "GET", s.host, "/v2/"+name+"/tags/list", nil)
			want(t, r, 200)
			if !strings.Contains(string(r.body), `"tags":[]`) {
				t.Errorf("tags left after delete: %s", r.desc)
			}
			// The blobs stay.
			want(t, e.do(t, "GET", s.host, "/v2/"+name+"/blobs/"+im.config.Digest.String(), nil), 200)
		})
	}
}

func TestManifestSHA512(t *testing.T) {
	e := newEnv(t)
	im := e.pushImage(t, "", "alpha/app", "v1", "x")
	d := digest.SHA512.FromBytes(im.manifest)
	r := e.do(t, "PUT", "", "/v2/alpha/app/manifests/"+d.String()+"?tag=v512", im.manifest, "Content-Type", ocispec.MediaTypeImageManifest)
	want(t, r, 201)
	if r.header.Get("Docker-Content-Digest") != d.String() || r.header.Get("Location") != "/v2/alpha/app/manifests/"+d.String() {
		t.Errorf("sha512 push headers: %v", r.header)
	}
	for _, ref := range []string{d.String(), "v512"} {
		r = e.do(t, "GET", "", "/v2/alpha/app/manifests/"+ref, nil)
		want(t, r, 200)
		if r.header.Get("Docker-Content-Digest") != d.String() || !bytes.Equal(r.body, im.manifest) {
			t.Errorf("GET %s: %v", ref, r.header)
		}
	}
	// The sha256 manifest of the same bytes is a separate entry.
	want(t, e.do(t, "GET", "", "/v2/alpha/app/manifests/"+im.digest.String(), nil), 200)
}

// TestIsolation: content pushed to alpha is invisible through bravo in either
// style, including through a host-style name that spells alpha's path-style name.
func TestIsolation(t *testing.T) {
	e := newEnv(t)
	im := e.pushImage(t, "", "alpha/app", "v1", "x")
	sub := e.pushImage(t, "", "alpha/app", "", "y")
	art := newManifest(t, sub.config, sub.layer, "application/vnd.test", &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: im.digest, Size: int64(len(im.manifest))})
	want(t, e.do(t, "PUT", "", "/v2/alpha/app/manifests/sig", art, "Content-Type", ocispec.MediaTypeImageManifest), 201)
	for _, b := range []struct{ host, name string }{
		{"", "bravo/app"},
		{"bravo.reg.test", "app"},
		{"bravo.reg.test", "alpha/app"},
	} {
		p := "/v2/" + b.name
		wantErr(t, e.do(t, "GET", b.host, p+"/manifests/v1", nil), 404, "MANIFEST_UNKNOWN")
		wantErr(t, e.do(t, "GET", b.host, p+"/manifests/"+im.digest.String(), nil), 404, "MANIFEST_UNKNOWN")
		want(t, e.do(t, "HEAD", b.host, p+"/manifests/"+im.digest.String(), nil), 404)
		wantErr(t, e.do(t, "DELETE", b.host, p+"/manifests/"+im.digest.String(), nil), 404, "MANIFEST_UNKNOWN")
		wantErr(t, e.do(t, "GET", b.host, p+"/blobs/"+im.layer.Digest.String(), nil), 404, "BLOB_UNKNOWN")
		want(t, e.do(t, "HEAD", b.host, p+"/blobs/"+im.layer.Digest.String(), nil), 404)
		wantErr(t, e.do(t, "DELETE", b.host, p+"/blobs/"+im.layer.Digest.String(), nil), 404, "BLOB_UNKNOWN")
		wantErr(t, e.do(t, "GET", b.host, p+"/tags/list", nil), 404, "NAME_UNKNOWN")
		r := e.do(t, "GET", b.host, p+"/referrers/"+im.digest.String(), nil)
		want(t, r, 200)
		if idx := decodeIndex(t, r); len(idx.Manifests) != 0 {
			t.Errorf("referrers leak across registries: %s", r.desc)
		}
	}
	// Still all there in alpha.
	want(t, e.do(t, "GET", "", "/v2/alpha/app/manifests/v1", nil), 200)
	want(t, e.do(t, "GET", "alpha.reg.test", "/v2/app/blobs/"+im.layer.Digest.String(), nil), 200)
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	d := digest.FromString("x").String()
	for _, tc := range []struct{ method, path string }{
		{"POST", "/v2/alpha/app/manifests/v1"},
		{"PATCH", "/v2/alpha/app/blobs/" + d},
		{"PUT", "/v2/alpha/app/blobs/uploads/"},
		{"POST", "/v2/alpha/app/tags/list"},
		{"DELETE", "/v2/_catalog"},
		{"PUT", "/v2/alpha/app/referrers/" + d},
		{"POST", "/v2/alpha/app/blobs/uploads/0123456789abcdef0123456789abcdef"},
	} {
		wantErr(t, e.do(t, tc.method, "", tc.path, nil), 405, "UNSUPPORTED")
	}
}
