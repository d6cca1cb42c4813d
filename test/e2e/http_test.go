package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// These tests talk to moat with plain net/http and its own CLI, so they need no
// third-party client and always run.

var httpClient = &http.Client{
	Timeout: 60 * time.Second,
	// Never follow redirects: the tests look at the status codes themselves.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
	desc   string // "METHOD URL -> STATUS" plus a body excerpt, for messages
}

func doHTTP(t *testing.T, method, rawURL string, body []byte, header map[string]string) httpResult {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, rawURL, err)
	}
	return httpResult{
		status: resp.StatusCode,
		header: resp.Header,
		body:   b,
		desc:   fmt.Sprintf("%s %s -> %d %.500s", method, rawURL, resp.StatusCode, printable(string(b))),
	}
}

func expectStatus(t *testing.T, r httpResult, want ...int) {
	t.Helper()
	for _, w := range want {
		if r.status == w {
			return
		}
	}
	t.Fatalf("want status %v: %s", want, r.desc)
}

// errorCodes returns the codes of an OCI error body {"errors":[{"code":...}]}.
func errorCodes(body []byte) []string {
	var v struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	var codes []string
	for _, e := range v.Errors {
		codes = append(codes, e.Code)
	}
	return codes
}

func expectErrorCode(t *testing.T, r httpResult, code string) {
	t.Helper()
	if !contains(errorCodes(r.body), code) {
		t.Fatalf("want an OCI error body with code %s: %s", code, r.desc)
	}
}

// resolveLocation turns an upload Location header into an absolute URL.
func resolveLocation(t *testing.T, base string, r httpResult) *url.URL {
	t.Helper()
	loc := r.header.Get("Location")
	if loc == "" {
		t.Fatalf("no Location header: %s", r.desc)
	}
	b, _ := url.Parse(base)
	u, err := b.Parse(loc)
	if err != nil {
		t.Fatalf("bad Location %q: %v", loc, err)
	}
	return u
}

// pushBlobHTTP uploads b to <name> with POST then PUT (the OCI "post+put" flow).
func pushBlobHTTP(t *testing.T, s *server, name string, b blob) {
	t.Helper()
	r := doHTTP(t, "POST", s.url+"/v2/"+name+"/blobs/uploads/", nil, nil)
	expectStatus(t, r, http.StatusAccepted)
	u := resolveLocation(t, s.url, r)
	q := u.Query()
	q.Set("digest", b.digest)
	u.RawQuery = q.Encode()
	r = doHTTP(t, "PUT", u.String(), b.data, map[string]string{"Content-Type": "application/octet-stream"})
	expectStatus(t, r, http.StatusCreated)
}

// pushImageHTTP pushes img to <name>:<tag> with the raw distribution API.
func pushImageHTTP(t *testing.T, s *server, name, tag string, img *testImage) {
	t.Helper()
	pushBlobHTTP(t, s, name, img.layer)
	pushBlobHTTP(t, s, name, img.config)
	r := doHTTP(t, "PUT", s.url+"/v2/"+name+"/manifests/"+tag, img.manifest.data, map[string]string{"Content-Type": mtManifest})
	expectStatus(t, r, http.StatusCreated)
}

func TestHTTPPing(t *testing.T) {
	s := moatServer(t)
	s.failureLog(t)
	r := doHTTP(t, "GET", s.url+"/v2/", nil, nil)
	expectStatus(t, r, http.StatusOK)
}

func TestHTTPUnknownRegistry(t *testing.T) {
	s := moatServer(t)
	s.failureLog(t)
	name := uniqueName("nosuchreg") + "/team/app"
	for _, tc := range []struct{ method, path string }{
		{"GET", "/tags/list"},
		{"GET", "/manifests/latest"},
		{"GET", "/blobs/sha256:" + strings.Repeat("0", 64)},
		{"POST", "/blobs/uploads/"},
	} {
		r := doHTTP(t, tc.method, s.url+"/v2/"+name+tc.path, nil, nil)
		expectStatus(t, r, http.StatusNotFound)
		expectErrorCode(t, r, "NAME_UNKNOWN")
	}
	r := doHTTP(t, "HEAD", s.url+"/v2/"+name+"/manifests/latest", nil, nil)
	expectStatus(t, r, http.StatusNotFound)
}

// TestHTTPRegistryIsolation pushes to registry A with the raw API and checks
// that registry B's paths expose none of it, not even through blob mounts.
func TestHTTPRegistryIsolation(t *testing.T) {
	s := moatServer(t)
	s.failureLog(t)
	regA := s.createRegistry(t, "httpa")
	regB := s.createRegistry(t, "httpb")
	img := newTestImage(t, "amd64")
	nameA := regA + "/team/app"
	pushImageHTTP(t, s, nameA, "v1", img)

	// Registry A serves it.
	r := doHTTP(t, "GET", s.url+"/v2/"+nameA+"/manifests/v1", nil, map[string]string{"Accept": mtManifest})
	expectStatus(t, r, http.StatusOK)
	expectBytes(t, "manifest from registry A", r.body, img.manifest.data)
	r = doHTTP(t, "GET", s.url+"/v2/"+nameA+"/blobs/"+img.layer.digest, nil, nil)
	expectStatus(t, r, http.StatusOK)
	expectBytes(t, "layer from registry A", r.body, img.layer.data)
	r = doHTTP(t, "GET", s.url+"/v2/"+nameA+"/tags/list", nil, nil)
	expectStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `"v1"`) {
		t.Fatalf("tag list of registry A lacks v1: %s", r.desc)
	}

	// Registry B does not, under the same repo name or under A's full path.
	for _, nameB := range []string{regB + "/team/app", regB + "/" + nameA} {
		for _, path := range []string{
			"/manifests/v1",
			"/manifests/" + img.manifest.digest,
			"/blobs/" + img.layer.digest,
			"/blobs/" + img.config.digest,
		} {
			for _, method := range []string{"GET", "HEAD"} {
				r := doHTTP(t, method, s.url+"/v2/"+nameB+path, nil, map[string]string{"Accept": mtManifest})
				expectStatus(t, r, http.StatusNotFound)
			}
		}
		r := doHTTP(t, "GET", s.url+"/v2/"+nameB+"/tags/list", nil, nil)
		if r.status == http.StatusOK && strings.Contains(string(r.body), `"v1"`) {
			t.Fatalf("registry B lists registry A's tag: %s", r.desc)
		}
		if r.status != http.StatusOK && r.status != http.StatusNotFound {
			t.Fatalf("tag list of an empty repo: want 200 or 404: %s", r.desc)
		}
	}

	// A cross-registry mount must not succeed (201); falling back to a new
	// upload session (202) is the spec's answer.
	nameB := regB + "/team/app"
	for _, query := range []string{
		"?mount=" + img.layer.digest + "&from=" + url.QueryEscape(nameA),
		"?mount=" + img.layer.digest, // anonymous mount
	} {
		r := doHTTP(t, "POST", s.url+"/v2/"+nameB+"/blobs/uploads/"+query, nil, nil)
		if r.status == http.StatusCreated {
			t.Fatalf("blob mount across registries succeeded: %s", r.desc)
		}
		if r.status == http.StatusAccepted && r.header.Get("Location") != "" {
			u := resolveLocation(t, s.url, r)
			doHTTP(t, "DELETE", u.String(), nil, nil) // cancel; the result does not matter here
		}
		r = doHTTP(t, "HEAD", s.url+"/v2/"+nameB+"/blobs/"+img.layer.digest, nil, nil)
		expectStatus(t, r, http.StatusNotFound)
	}

	// Pushing the same repo name to B creates independent content: deleting it
	// in B leaves A alone.
	pushImageHTTP(t, s, nameB, "v1", img)
	r = doHTTP(t, "DELETE", s.url+"/v2/"+nameB+"/manifests/"+img.manifest.digest, nil, nil)
	expectStatus(t, r, http.StatusAccepted)
	r = doHTTP(t, "GET", s.url+"/v2/"+nameB+"/manifests/"+img.manifest.digest, nil, map[string]string{"Accept": mtManifest})
	expectStatus(t, r, http.StatusNotFound)
	r = doHTTP(t, "GET", s.url+"/v2/"+nameA+"/manifests/v1", nil, map[string]string{"Accept": mtManifest})
	expectStatus(t, r, http.StatusOK)
	expectBytes(t, "manifest from registry A after deleting it in B", r.body, img.manifest.data)
}

// TestACRCommands checks the registry lifecycle through `moat acr`.
func TestACRCommands(t *testing.T) {
	s := moatServer(t)
	s.failureLog(t)
	name := uniqueName("acrcli")
	srvFlag := []string{"--server", s.url}
	must := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := s.moat(t, nil, append(args, srvFlag...)...)
		if err != nil {
			t.Fatalf("moat %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	mustFail := func(t *testing.T, why string, args ...string) {
		t.Helper()
		out, err := s.moat(t, nil, append(args, srvFlag...)...)
		if err == nil {
			t.Fatalf("moat %s succeeded but must fail (%s):\n%s", strings.Join(args, " "), why, out)
		}
	}

	step(t, "create", func(t *testing.T) {
		must(t, "acr", "create", "--name", name, "--sku", "Premium")
		// The new registry accepts pushes at once.
		pushImageHTTP(t, s, name+"/team/app", "v0", newTestImage(t, "amd64"))
	})
	step(t, "show", func(t *testing.T) {
		if out := must(t, "acr", "show", "--name", name); !strings.Contains(out, name) {
			t.Fatalf("moat acr show --name %s does not mention the registry:\n%s", name, out)
		}
		mustFail(t, "the registry does not exist", "acr", "show", "--name", uniqueName("nosuchreg"))
	})
	step(t, "list", func(t *testing.T) {
		if out := must(t, "acr", "list"); !strings.Contains(out, name) {
			t.Fatalf("moat acr list does not list %s:\n%s", name, out)
		}
	})
	step(t, "MOAT_SERVER", func(t *testing.T) {
		other := uniqueName("acrenv")
		out, err := s.moat(t, []string{"MOAT_SERVER=" + s.url}, "acr", "create", "--name", other, "--sku", "Premium")
		if err != nil {
			t.Fatalf("moat acr create with MOAT_SERVER=%s: %v\n%s", s.url, err, out)
		}
		out, err = s.moat(t, []string{"MOAT_SERVER=" + s.url}, "acr", "show", "--name", other)
		if err != nil || !strings.Contains(out, other) {
			t.Fatalf("moat acr show with MOAT_SERVER=%s: %v\n%s", s.url, err, out)
		}
	})
	step(t, "invalid names", func(t *testing.T) {
		for _, bad := range []string{"abcd", strings.Repeat("a", 51), "bad-name1", "bad_name1", "bad.name1", ""} {
			mustFail(t, fmt.Sprintf("registry names are 5-50 alphanumerics; %q is not", bad),
				"acr", "create", "--name", bad, "--sku", "Premium")
		}
	})
	step(t, "delete", func(t *testing.T) {
		// Content pushed before the delete must not survive it.
		img := newTestImage(t, "amd64")
		pushImageHTTP(t, s, name+"/team/app", "v1", img)
		must(t, "acr", "delete", "--name", name, "--yes")
		mustFail(t, "the registry was deleted", "acr", "show", "--name", name)
		if out := must(t, "acr", "list"); strings.Contains(out, name) {
			t.Fatalf("moat acr list still lists the deleted registry %s:\n%s", name, out)
		}
		r := doHTTP(t, "GET", s.url+"/v2/"+name+"/team/app/manifests/v1", nil, map[string]string{"Accept": mtManifest})
		expectStatus(t, r, http.StatusNotFound)
		expectErrorCode(t, r, "NAME_UNKNOWN")
	})
}
