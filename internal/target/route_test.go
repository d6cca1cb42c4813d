package target

import (
	"slices"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/oci/names"
)

// suffix is the host-style login-server suffix of these tests.
const suffix = "reg.test"

var hostless, _ = addressing.New(suffix, "")

// endpointSegment is the path segment before Ref of each endpoint with a Ref.
var endpointSegment = map[Kind]string{
	KindManifest:  "/manifests/",
	KindBlob:      "/blobs/",
	KindUpload:    "/blobs/uploads/",
	KindReferrers: "/referrers/",
}

// canonicalPath rebuilds the path of a route in its one canonical spelling.
func canonicalPath(rt Route) string {
	switch rt.Kind {
	case KindPing:
		return "/v2/"
	case KindCatalog:
		if rt.Name == "" {
			return "/v2/_catalog"
		}
		return "/v2/" + rt.Name + "/_catalog"
	case KindTags:
		return "/v2/" + rt.Name + "/tags/list"
	case KindUploadStart:
		return "/v2/" + rt.Name + "/blobs/uploads/"
	}
	return "/v2/" + rt.Name + endpointSegment[rt.Kind] + rt.Ref
}

// rejectedName reports whether the handler refuses Name before it touches a
// store, in path style and in host style: no registry of that name can exist
// (registry names are letters and digits), or the repository is invalid.
func rejectedName(name string) (pathStyle, hostStyle bool) {
	a, _ := addressing.New(suffix, "")
	rejected := func(host string) bool {
		reg, repo := a.Split(host, name)
		return !names.ValidRegistry(reg) || repo == "" || !names.ValidRepository(repo)
	}
	return rejected("127.0.0.1:5000"), rejected("alpha." + suffix)
}

func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{
		"/v2", "/v2/", "/v2/_catalog", "/v2/alpha/_catalog", "/v2//_catalog",
		"/v2/alpha/app/tags/list", "/v2/alpha/a/b/manifests/latest", "/v2/alpha/app/manifests/sha256:abc",
		"/v2/alpha/app/blobs/sha256:abc", "/v2/alpha/app/blobs/uploads/", "/v2/alpha/app/blobs/uploads",
		"/v2/alpha/app/blobs/uploads/0123456789abcdef0123456789abcdef", "/v2/alpha/app/referrers/sha256:abc",
		"/v2/alpha/blobs/manifests/x", "/v2/alpha/manifests/blobs/uploads/", "/v2//x/tags/list",
		"/v2/alpha/x//manifests/y", "/v2/alpha/../x/manifests/y", "/v3/x", "", "/v2/x/manifests/",
		"/v2/tags/list", "/v2/blobs/uploads/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt := ParseRoute(path)
		if isV2 := path == "/v2" || strings.HasPrefix(path, "/v2/"); isV2 != rt.Kind.Distribution() {
			t.Fatalf("%q parsed to %+v", path, rt)
		} else if !isV2 {
			return
		}
		switch rt.Kind {
		case KindInvalid:
			if rt.Name != "" || rt.Ref != "" {
				t.Fatalf("invalid route with fields: %+v", rt)
			}
			return
		case KindPing:
			if path != "/v2" && path != "/v2/" || rt.Name != "" || rt.Ref != "" {
				t.Fatalf("ping from %q: %+v", path, rt)
			}
			return
		case KindCatalog, KindTags, KindUploadStart:
			if rt.Ref != "" {
				t.Fatalf("%q: %+v has a Ref", path, rt)
			}
		default:
			if rt.Ref == "" || strings.Contains(rt.Ref, "/") {
				t.Fatalf("%q: bad Ref in %+v", path, rt)
			}
		}
		// Rebuilding the path reproduces the input, up to the one optional
		// slash the grammar allows.
		c := canonicalPath(rt)
		var alts []string
		switch rt.Kind {
		case KindCatalog:
			alts = []string{"/v2/" + rt.Name + "/_catalog"}
		case KindUploadStart:
			alts = []string{strings.TrimSuffix(c, "/")}
		}
		if path != c && !slices.Contains(alts, path) {
			t.Fatalf("%q parsed to %+v, which rebuilds as %q", path, rt, c)
		}
		if again := ParseRoute(c); again != rt {
			t.Fatalf("%q parsed to %+v, its canonical path %q to %+v", path, rt, c, again)
		}
		// In path style the registry is the first segment after /v2/: that is
		// what the network gate (internal/network/netguard) checks before the handler
		// runs, so the handler must never resolve another one.
		first, _, _ := strings.Cut(strings.TrimPrefix(path, "/v2/"), "/")
		if rt.Kind == KindCatalog {
			// Name is a registry name, looked up as is (keys have no "/").
			if rt.Name != "" && !strings.Contains(rt.Name, "/") && rt.Name != first {
				t.Fatalf("%q: catalog of %q, but the first segment is %q", path, rt.Name, first)
			}
			return
		}
		if reg, repo := hostless.Split("127.0.0.1", rt.Name); reg != "" && names.ValidRepository(repo) && reg != first {
			t.Fatalf("%q: resolves to registry %q, but the first segment is %q", path, reg, first)
		}
		// ParseRoute does not validate names, but a name with an empty
		// component (leading, trailing or double slash) never gets past the
		// handler's name check in either style.
		if rt.Name == "" || strings.HasPrefix(rt.Name, "/") || strings.HasSuffix(rt.Name, "/") || strings.Contains(rt.Name, "//") {
			if p, h := rejectedName(rt.Name); !p || !h {
				t.Fatalf("%q: name %q accepted (path style rejects: %v, host style rejects: %v)", path, rt.Name, p, h)
			}
		}
		// Whatever is accepted is a clean relative path.
		if p, _ := rejectedName(rt.Name); !p {
			for _, seg := range strings.Split(rt.Name, "/") {
				if seg == "" || seg == "." || seg == ".." {
					t.Fatalf("%q: accepted name %q has segment %q", path, rt.Name, seg)
				}
			}
		}
	})
}

func TestParseACRRoute(t *testing.T) {
	for path, want := range map[string]Route{
		"/acr/v1/_catalog":                    {Kind: KindACRCatalog},
		"/acr/v1/reg1/_catalog":               {Kind: KindACRCatalog, Name: "reg1"},
		"/acr/v1/team/app":                    {Kind: KindACRRepository, Name: "team/app"},
		"/acr/v1/team/app/_tags":              {Kind: KindACRTags, Name: "team/app"},
		"/acr/v1/team/app/_tags/":             {Kind: KindACRTags, Name: "team/app"},
		"/acr/v1/team/app/_tags/_v1":          {Kind: KindACRTag, Name: "team/app", Ref: "_v1"},
		"/acr/v1/app/_manifests":              {Kind: KindACRManifests, Name: "app"},
		"/acr/v1/app/_manifests/sha256:ab":    {Kind: KindACRManifest, Name: "app", Ref: "sha256:ab"},
		"/acr/v1/":                            {Kind: KindACRInvalid},
		"/acr/v1/_tags":                       {Kind: KindACRInvalid},
		"/acr/v1/app/_tags/a/b":               {Kind: KindACRInvalid},
		"/acr/v1/app/_other":                  {Kind: KindACRInvalid},
		"/acr/v1/app/_catalog/x":              {Kind: KindACRInvalid},
		"/acr/v1/app/_manifests/sha256:ab/xx": {Kind: KindACRInvalid},
	} {
		if got := ParseRoute(path); got != want {
			t.Errorf("%s: %+v, want %+v", path, got, want)
		}
	}
}

// FuzzParseACRRoute: an /acr/v1/ path is an ACR route whose reference has no
// slash and whose repository (except for the catalog) is not empty and
// holds no endpoint segment.
func FuzzParseACRRoute(f *testing.F) {
	for _, s := range []string{"/acr/v1/_catalog", "/acr/v1/a/b/_tags/c", "/acr/v1/a/_manifests/sha256:00", "/acr/v1//_x/", "/acr/v1//_catalog"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt := ParseRoute(path)
		if strings.HasPrefix(path, "/acr/v1/") != rt.Kind.ACR() {
			t.Fatalf("%q -> %+v", path, rt)
		}
		if !rt.Kind.ACR() || rt.Kind == KindACRInvalid {
			return
		}
		if strings.Contains(rt.Ref, "/") {
			t.Fatalf("%q -> %+v", path, rt)
		}
		if rt.Kind != KindACRCatalog && (rt.Name == "" || strings.Contains(rt.Name, "/_")) {
			t.Fatalf("%q: name %q", path, rt.Name)
		}
	})
}
