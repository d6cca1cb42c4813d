package server

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// registryToken is a registry token of the administrator for a scope.
func (e *bypassEnv) registryToken(scope string) string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/oauth2/token?service="+e.host()+"&scope="+scope, nil)
	req.SetBasicAuth("admin", "bypass-password-1")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st, body := e.doJSON(req, &tok); st != http.StatusOK || tok.AccessToken == "" {
		e.t.Fatalf("admin token for %s: %d %s", scope, st, body)
	}
	return tok.AccessToken
}

// pushReferrer pushes, as the administrator, an artifact manifest of
// artifactType with one layer (content) whose subject is the manifest
// subject in repo, and returns its digest.
func (e *bypassEnv) pushReferrer(repo, subject, artifactType, content string) string {
	e.t.Helper()
	tok := e.registryToken("repository:" + repo + ":pull,push")
	send := func(method, u, ct string, body []byte, want int) *http.Response {
		req, _ := http.NewRequest(method, e.ts.URL+u, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Accept", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			e.t.Fatalf("%s %s: %d %s", method, u, resp.StatusCode, b.String())
		}
		resp.Body = nil
		resp.Header.Set("X-Body", b.String())
		return resp
	}
	// The subject's descriptor: media type and size as the registry serves it.
	got := send(http.MethodGet, "/v2/"+repo+"/manifests/"+subject, "application/vnd.oci.image.manifest.v1+json", nil, http.StatusOK)
	subjectType, subjectSize := got.Header.Get("Content-Type"), len(got.Header.Get("X-Body"))
	empty, layer := []byte("{}"), []byte(content)
	send(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+sha(empty), "application/octet-stream", empty, http.StatusCreated)
	send(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+sha(layer), "application/octet-stream", layer, http.StatusCreated)
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":%q,`+
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":2},`+
		`"layers":[{"mediaType":%q,"digest":%q,"size":%d}],`+
		`"subject":{"mediaType":%q,"digest":%q,"size":%d}}`,
		artifactType, sha(empty), artifactType, sha(layer), len(layer), subjectType, subject, subjectSize))
	send(http.MethodPut, "/v2/"+repo+"/manifests/"+sha(m), "application/vnd.oci.image.manifest.v1+json", m, http.StatusCreated)
	return sha(m)
}

// referrersOf lists the digests and artifact types of the referrers of
// subject in repo, as the administrator.
func (e *bypassEnv) referrersOf(repo, subject string) []string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/v2/"+repo+"/referrers/"+subject, nil)
	req.Header.Set("Authorization", "Bearer "+e.registryToken("repository:"+repo+":pull"))
	var idx struct {
		Manifests []struct {
			Digest       string `json:"digest"`
			ArtifactType string `json:"artifactType"`
		} `json:"manifests"`
	}
	if st, body := e.doJSON(req, &idx); st != http.StatusOK {
		e.t.Fatalf("referrers of %s@%s: %d %s", repo, subject, st, body)
	}
	out := []string{}
	for _, m := range idx.Manifests {
		out = append(out, m.ArtifactType+" "+m.Digest)
	}
	slices.Sort(out)
	return out
}

// blobStatus is the status of HEAD /v2/<repo>/blobs/<digest> as the administrator.
func (e *bypassEnv) blobStatus(repo, digest string) int {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodHead, e.ts.URL+"/v2/"+repo+"/blobs/"+digest, nil)
	req.Header.Set("Authorization", "Bearer "+e.registryToken("repository:"+repo+":pull"))
	st, _ := e.doJSON(req, nil)
	return st
}

// TestImportIncludeReferrers: `moat acr import --include-referrers`
// (includeReferrers in the importImage body) copies, after the image, the
// referrers of each copied manifest and theirs in turn (an SBOM of the image
// and a signature of the SBOM) with their blobs into the target repository,
// through the source's network rules as the trusted import service. Without
// the flag no referrer is copied.
func TestImportIncludeReferrers(t *testing.T) {
	e := newBypassEnv(t)
	e.srv.SetRunnerEndpoint("http", e.host())
	base := e.mgmt + "Microsoft.ContainerRegistry/registries/basereg"
	e.admin(http.MethodPut, base, `{"sku":{"name":"Premium"}}`)
	e.admin(http.MethodPut, e.mgmt+"Microsoft.ContainerRegistry/registries/appsreg", `{"sku":{"name":"Premium"}}`)
	img := e.pushImage("basereg/node", "15-alpine")
	sbom := e.pushReferrer("basereg/node", img, "application/vnd.example.sbom+json", `{"packages":["node"]}`)
	sig := e.pushReferrer("basereg/node", sbom, "application/vnd.example.signature", "signature of the sbom")
	if got := e.referrersOf("basereg/node", img); !slices.Equal(got, []string{"application/vnd.example.sbom+json " + sbom}) {
		t.Fatalf("source referrers of the image: %v", got)
	}
	e.admin(http.MethodPatch, base, `{"properties":{"publicNetworkAccess":"Disabled"}}`)
	imp := e.mgmt + "Microsoft.ContainerRegistry/registries/appsreg/importImage"

	// Without includeReferrers: the image only.
	st, out := e.adminJSON(http.MethodPost, imp, `{"source":{"sourceImage":"`+e.host()+`/basereg/node:15-alpine"},"targetTags":["plain:v1"]}`)
	if st != http.StatusOK || out["digest"] != img {
		t.Fatalf("import without referrers: %d %v", st, out)
	}
	if _, listed := out["referrers"]; listed {
		t.Errorf("import without referrers answers referrers: %v", out)
	}
	if got := e.referrersOf("appsreg/plain", img); len(got) != 0 {
		t.Errorf("referrers copied without includeReferrers: %v", got)
	}

	// With includeReferrers: the SBOM and its signature follow the image.
	body := `{"source":{"sourceImage":"` + e.host() + `/basereg/node:15-alpine"},"targetTags":["node:15-alpine","node:15"],"includeReferrers":true}`
	st, out = e.adminJSON(http.MethodPost, imp, body)
	if st != http.StatusOK || out["digest"] != img {
		t.Fatalf("import with referrers: %d %v", st, out)
	}
	if got := fmt.Sprint(out["referrers"]); got != fmt.Sprint([]any{sbom, sig}) {
		t.Errorf("referrers imported: %s, want [%s %s]", got, sbom, sig)
	}
	if got := e.referrersOf("appsreg/node", img); !slices.Equal(got, []string{"application/vnd.example.sbom+json " + sbom}) {
		t.Errorf("target referrers of the image: %v", got)
	}
	if got := e.referrersOf("appsreg/node", sbom); !slices.Equal(got, []string{"application/vnd.example.signature " + sig}) {
		t.Errorf("target referrers of the SBOM: %v", got)
	}
	for _, d := range []string{sbom, sig} {
		if got := e.manifestDigest("appsreg/node", d); got != d {
			t.Errorf("referrer %s in the target: %q", d, got)
		}
	}
	for _, blob := range []string{sha([]byte("{}")), sha([]byte(`{"packages":["node"]}`)), sha([]byte("signature of the sbom"))} {
		if st := e.blobStatus("appsreg/node", blob); st != http.StatusOK {
			t.Errorf("blob %s of a referrer in the target: %d", blob, st)
		}
	}

	// Importing again (Force) finds everything present and succeeds.
	forced := strings.TrimSuffix(body, "}") + `,"mode":"Force"}`
	if st, out := e.adminJSON(http.MethodPost, imp, forced); st != http.StatusOK {
		t.Fatalf("import with referrers again: %d %v", st, out)
	}

	// The source's network rules still decide: no trusted services, no import.
	e.admin(http.MethodPatch, base, `{"properties":{"networkRuleBypassOptions":"None"}}`)
	if st, out := e.adminJSON(http.MethodPost, imp, forced); st != http.StatusForbidden || !strings.Contains(fmt.Sprint(out), "not allowed access") {
		t.Fatalf("import with referrers, trusted services disallowed: %d %v", st, out)
	}
}
