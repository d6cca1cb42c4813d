package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/test/harness"
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
		if k == "Host" {
			req.Host = v // the Host the server sees (the connection still goes to rawURL's host)
			continue
		}
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
	auth := s.auth(t, name)
	r := doHTTP(t, "POST", s.url+"/v2/"+name+"/blobs/uploads/", nil, auth)
	expectStatus(t, r, http.StatusAccepted)
	u := resolveLocation(t, s.url, r)
	q := u.Query()
	q.Set("digest", b.digest)
	u.RawQuery = q.Encode()
	r = doHTTP(t, "PUT", u.String(), b.data, with(auth, "Content-Type", "application/octet-stream"))
	expectStatus(t, r, http.StatusCreated)
}

// pushImageHTTP pushes img to <name>:<tag> with the raw distribution API.
func pushImageHTTP(t *testing.T, s *server, name, tag string, img *testImage) {
	t.Helper()
	pushBlobHTTP(t, s, name, img.layer)
	pushBlobHTTP(t, s, name, img.config)
	r := doHTTP(t, "PUT", s.url+"/v2/"+name+"/manifests/"+tag, img.manifest.data, with(s.auth(t, name), "Content-Type", mtManifest))
	expectStatus(t, r, http.StatusCreated)
}

// with returns a copy of header with the given key/value pairs added.
func with(header map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(header)+len(kv)/2)
	for k, v := range header {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// tokenAnswer is the token endpoint's JSON answer.
type tokenAnswer struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

// tokenRequest asks GET /oauth2/token for scopes with the given header
// (Basic credentials, or none), service set to host, and with host as the
// Host the server sees.
func (s *server) tokenRequest(t *testing.T, host string, header map[string]string, scopes ...string) (httpResult, tokenAnswer) {
	t.Helper()
	return s.tokenRequestQuery(t, host, header, url.Values{"service": {host}}, scopes...)
}

// offlineTokenRequest is tokenRequest asking for a refresh token as docker
// login does (offline_token=true, client_id=docker).
func (s *server) offlineTokenRequest(t *testing.T, host string, header map[string]string, scopes ...string) (httpResult, tokenAnswer) {
	t.Helper()
	return s.tokenRequestQuery(t, host, header, url.Values{"service": {host}, "offline_token": {"true"}, "client_id": {"docker"}}, scopes...)
}

func (s *server) tokenRequestQuery(t *testing.T, host string, header map[string]string, q url.Values, scopes ...string) (httpResult, tokenAnswer) {
	t.Helper()
	for _, sc := range scopes {
		q.Add("scope", sc)
	}
	r := doHTTP(t, "GET", s.url+"/oauth2/token?"+q.Encode(), nil, with(header, "Host", host))
	var a tokenAnswer
	if r.status == http.StatusOK {
		if err := json.Unmarshal(r.body, &a); err != nil {
			t.Fatalf("token endpoint: undecodable answer (%v): %s", err, r.desc)
		}
	}
	return r, a
}

// adminBasic is the Basic Authorization header of the administrator.
func (s *server) adminBasic() map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+s.password))}
}

// tokenAt signs in as admin at the token endpoint, seen as host, and returns
// the access token for scopes.
func (s *server) tokenAt(t *testing.T, host string, scopes ...string) string {
	t.Helper()
	r, a := s.tokenRequest(t, host, s.adminBasic(), scopes...)
	expectStatus(t, r, http.StatusOK)
	if a.AccessToken == "" || a.Token != a.AccessToken {
		t.Fatalf("token endpoint: want access_token (and the same token): %s", r.desc)
	}
	return a.AccessToken
}

// token is an admin access token for scopes on the server's own address.
func (s *server) token(t *testing.T, scopes ...string) string {
	t.Helper()
	return s.tokenAt(t, s.addr, scopes...)
}

// auth is the Bearer header of an admin token that may pull, push and delete
// in each repository name (<registry>/<repo>).
func (s *server) auth(t *testing.T, names ...string) map[string]string {
	t.Helper()
	var scopes []string
	for _, n := range names {
		scopes = append(scopes, "repository:"+n+":pull,push,delete")
	}
	return bearer(s.token(t, scopes...))
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// jwtPart decodes part i (0 header, 1 claims) of a JWT.
func jwtPart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT (%d parts): %.40s...", len(parts), tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("JWT part %d is not base64url: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("JWT part %d is not JSON: %v", i, err)
	}
	return m
}

func jwtEncode(t *testing.T, v any) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString(mustJSON(t, v))
}

// grantedAccess lists the "type:name:actions" entries of an access token.
func grantedAccess(t *testing.T, tok string) []string {
	t.Helper()
	var out []string
	list, _ := jwtPart(t, tok, 1)["access"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		var acts []string
		as, _ := m["actions"].([]any)
		for _, a := range as {
			acts = append(acts, fmt.Sprint(a))
		}
		sort.Strings(acts)
		out = append(out, fmt.Sprintf("%v:%v:%s", m["type"], m["name"], strings.Join(acts, ",")))
	}
	sort.Strings(out)
	return out
}

// expectChallenge checks a 401: OCI error UNAUTHORIZED and a Bearer challenge
// pointing at this server's token endpoint for host, with the given error
// ("" for none) and, when scope is not "", that scope.
func expectChallenge(t *testing.T, s *server, r httpResult, host, errCode, scope string) {
	t.Helper()
	expectStatus(t, r, http.StatusUnauthorized)
	if r.header.Get("Content-Type") != "" && !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("401 with Content-Type %q, want application/json: %s", r.header.Get("Content-Type"), r.desc)
	}
	if len(r.body) > 0 { // HEAD has none
		expectErrorCode(t, r, "UNAUTHORIZED")
	}
	h := r.header.Get("WWW-Authenticate")
	scheme, p := parseChallenge(h)
	if scheme != "bearer" || p["realm"] != "http://"+host+"/oauth2/token" || p["service"] != host {
		t.Fatalf("want WWW-Authenticate: Bearer realm=\"http://%s/oauth2/token\",service=\"%s\"..., got %q: %s", host, host, h, r.desc)
	}
	if p["error"] != errCode {
		t.Fatalf("challenge error=%q, want %q (WWW-Authenticate: %s): %s", p["error"], errCode, h, r.desc)
	}
	if scope != "" && p["scope"] != scope {
		t.Fatalf("challenge scope=%q, want %q (WWW-Authenticate: %s): %s", p["scope"], scope, h, r.desc)
	}
}

// expectRefused checks that r refuses access (401 or 403 with the matching OCI
// error) and that its body carries none of the given content.
func expectRefused(t *testing.T, r httpResult, content ...blob) {
	t.Helper()
	switch r.status {
	case http.StatusUnauthorized:
		if len(r.body) > 0 {
			expectErrorCode(t, r, "UNAUTHORIZED")
		}
	case http.StatusForbidden:
		if len(r.body) > 0 {
			expectErrorCode(t, r, "DENIED")
		}
	default:
		t.Fatalf("want 401 or 403: %s", r.desc)
	}
	for _, b := range content {
		if bytes.Contains(r.body, b.data) || bytes.Contains(r.body, []byte(b.digest)) {
			t.Fatalf("a refused request leaked content %s: %s", b.digest, r.desc)
		}
	}
	if r.header.Get("Docker-Content-Digest") != "" {
		t.Fatalf("a refused request answered a Docker-Content-Digest: %s", r.desc)
	}
}

// TestHTTPPing checks the data plane's entry point: without a token GET (and
// HEAD) /v2/ answer 401 with a challenge naming the token endpoint and the
// service of the host the client used; with any valid token, 200.
func TestHTTPPing(t *testing.T) {
	s := moatServer(t)
	s.failureLog(t)
	for _, method := range []string{"GET", "HEAD"} {
		r := doHTTP(t, method, s.url+"/v2/", nil, nil)
		expectChallenge(t, s, r, s.addr, "", "")
		if r.header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
			t.Errorf("%s /v2/: Docker-Distribution-API-Version %q, want registry/2.0", method, r.header.Get("Docker-Distribution-API-Version"))
		}
	}
	// The realm and service follow the Host the client used.
	local := strings.Replace(s.addr, "127.0.0.1", "localhost", 1)
	expectChallenge(t, s, doHTTP(t, "GET", s.url+"/v2/", nil, map[string]string{"Host": local}), local, "", "")

	r := doHTTP(t, "GET", s.url+"/v2/", nil, bearer(s.token(t)))
	expectStatus(t, r, http.StatusOK)
	expectEqual(t, "GET /v2/ body with a token", strings.TrimSpace(string(r.body)), "{}")

	// The password came from MOAT_ADMIN_PASSWORD: none was generated or written down.
	if _, err := os.Stat(filepath.Join(s.dataDir, "admin-password")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the server wrote %s/admin-password although MOAT_ADMIN_PASSWORD was set (stat: %v)", s.dataDir, err)
	}
	if b, _ := os.ReadFile(s.logPath); bytes.Contains(b, []byte(s.password)) {
		t.Errorf("the server log shows the administrator password")
	}
}

func TestHTTPUnknownRegistry(t *testing.T) {
	s := moatServer(t)
	s.failureLog(t)
	name := uniqueName("nosuchreg") + "/team/app"
	auth := s.auth(t, name) // the administrator may do anything; the registry does not exist
	for _, tc := range []struct{ method, path string }{
		{"GET", "/tags/list"},
		{"GET", "/manifests/latest"},
		{"GET", "/blobs/sha256:" + strings.Repeat("0", 64)},
		{"POST", "/blobs/uploads/"},
	} {
		r := doHTTP(t, tc.method, s.url+"/v2/"+name+tc.path, nil, auth)
		expectStatus(t, r, http.StatusNotFound)
		expectErrorCode(t, r, "NAME_UNKNOWN")
	}
	r := doHTTP(t, "HEAD", s.url+"/v2/"+name+"/manifests/latest", nil, auth)
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
	// One token that may do everything in A's repo and in B's repos: the
	// isolation is the registry's, not the token's.
	auth := s.auth(t, nameA, regB+"/team/app", regB+"/"+nameA)
	accept := with(auth, "Accept", mtManifest)

	// Registry A serves it.
	r := doHTTP(t, "GET", s.url+"/v2/"+nameA+"/manifests/v1", nil, accept)
	expectStatus(t, r, http.StatusOK)
	expectBytes(t, "manifest from registry A", r.body, img.manifest.data)
	r = doHTTP(t, "GET", s.url+"/v2/"+nameA+"/blobs/"+img.layer.digest, nil, auth)
	expectStatus(t, r, http.StatusOK)
	expectBytes(t, "layer from registry A", r.body, img.layer.data)
	r = doHTTP(t, "GET", s.url+"/v2/"+nameA+"/tags/list", nil, auth)
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
				r := doHTTP(t, method, s.url+"/v2/"+nameB+path, nil, accept)
				expectStatus(t, r, http.StatusNotFound)
			}
		}
		r := doHTTP(t, "GET", s.url+"/v2/"+nameB+"/tags/list", nil, auth)
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
		r := doHTTP(t, "POST", s.url+"/v2/"+nameB+"/blobs/uploads/"+query, nil, auth)
		if r.status == http.StatusCreated {
			t.Fatalf("blob mount across registries succeeded: %s", r.desc)
		}
		if r.status == http.StatusAccepted && r.header.Get("Location") != "" {
			u := resolveLocation(t, s.url, r)
			doHTTP(t, "DELETE", u.String(), nil, auth) // cancel; the result does not matter here
		}
		r = doHTTP(t, "HEAD", s.url+"/v2/"+nameB+"/blobs/"+img.layer.digest, nil, auth)
		expectStatus(t, r, http.StatusNotFound)
	}

	// Pushing the same repo name to B creates independent content: deleting it
	// in B leaves A alone.
	pushImageHTTP(t, s, nameB, "v1", img)
	r = doHTTP(t, "DELETE", s.url+"/v2/"+nameB+"/manifests/"+img.manifest.digest, nil, auth)
	expectStatus(t, r, http.StatusAccepted)
	r = doHTTP(t, "GET", s.url+"/v2/"+nameB+"/manifests/"+img.manifest.digest, nil, accept)
	expectStatus(t, r, http.StatusNotFound)
	r = doHTTP(t, "GET", s.url+"/v2/"+nameA+"/manifests/v1", nil, accept)
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
		r := doHTTP(t, "GET", s.url+"/v2/"+name+"/team/app/manifests/v1", nil, with(s.auth(t, name+"/team/app"), "Accept", mtManifest))
		expectStatus(t, r, http.StatusNotFound)
		expectErrorCode(t, r, "NAME_UNKNOWN")
	})
}

// TestHTTPTokenEndpointCredentials checks the token endpoint: the
// administrator's credentials get tokens (Basic, the password grant and a
// refresh token), and every wrong or malformed credential gets 401
// UNAUTHORIZED as JSON — never a token, never a 5xx.
func TestHTTPTokenEndpointCredentials(t *testing.T) {
	s := moatServer(t)
	s.failureLog(t)
	reg := s.createRegistry(t, "tokcred")
	scope := "repository:" + reg + "/team/app:pull,push"
	basic := func(user, pw string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))}
	}
	expectUnauthorized := func(t *testing.T, what string, r httpResult) {
		t.Helper()
		if r.status != http.StatusUnauthorized {
			t.Fatalf("%s: want 401: %s", what, r.desc)
		}
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: 401 with Content-Type %q, want JSON: %s", what, r.header.Get("Content-Type"), r.desc)
		}
		expectErrorCode(t, r, "UNAUTHORIZED")
		var fields map[string]any
		_ = json.Unmarshal(r.body, &fields)
		for _, k := range []string{"token", "access_token", "refresh_token"} {
			if _, ok := fields[k]; ok {
				t.Fatalf("%s: the 401 carries %s: %s", what, k, r.desc)
			}
		}
		if bytes.Contains(r.body, []byte(s.password)) {
			t.Fatalf("%s: the 401 shows the password: %s", what, r.desc)
		}
	}

	var refresh string
	step(t, "admin credentials", func(t *testing.T) {
		r, a := s.tokenRequest(t, s.addr, s.adminBasic(), scope)
		expectStatus(t, r, http.StatusOK)
		if a.AccessToken == "" || a.RefreshToken != "" || a.ExpiresIn <= 0 {
			t.Fatalf("want access_token and expires_in, and no refresh_token without offline_token=true: %s", r.desc)
		}
		r, a = s.offlineTokenRequest(t, s.addr, s.adminBasic(), scope)
		expectStatus(t, r, http.StatusOK)
		if a.AccessToken == "" || a.RefreshToken == "" || a.ExpiresIn <= 0 {
			t.Fatalf("want access_token, refresh_token and expires_in with offline_token=true: %s", r.desc)
		}
		if got := grantedAccess(t, a.AccessToken); len(got) != 1 || got[0] != "repository:"+reg+"/team/app:pull,push" {
			t.Fatalf("the administrator's token grants %q, want exactly pull,push on %s/team/app", got, reg)
		}
		if aud := fmt.Sprint(jwtPart(t, a.AccessToken, 1)["aud"]); !strings.Contains(aud, s.addr) {
			t.Fatalf("token audience %s, want %s", aud, s.addr)
		}
		refresh = a.RefreshToken
	})
	step(t, "refresh token", func(t *testing.T) {
		r, a := s.tokenRequest(t, s.addr, basic("00000000-0000-0000-0000-000000000000", refresh), scope)
		expectStatus(t, r, http.StatusOK)
		if got := grantedAccess(t, a.AccessToken); len(got) != 1 {
			t.Fatalf("a token from the refresh token grants %q, want pull,push on %s/team/app", got, reg)
		}
		form := url.Values{"grant_type": {"refresh_token"}, "service": {s.addr}, "refresh_token": {refresh}, "scope": {scope}}
		r = doHTTP(t, "POST", s.url+"/oauth2/token", []byte(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		expectStatus(t, r, http.StatusOK)
	})
	step(t, "password grant", func(t *testing.T) {
		form := url.Values{"grant_type": {"password"}, "service": {s.addr}, "username": {"admin"}, "password": {s.password}, "scope": {scope}}
		r := doHTTP(t, "POST", s.url+"/oauth2/token", []byte(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		expectStatus(t, r, http.StatusOK)
	})
	step(t, "wrong credentials", func(t *testing.T) {
		for _, tc := range []struct {
			what   string
			header map[string]string
		}{
			{"wrong password", basic("admin", s.password+"x")},
			{"password prefix", basic("admin", s.password[:len(s.password)-1])},
			{"empty password", basic("admin", "")},
			{"unknown user", basic("nosuchuser"+randomHex(6), s.password)},
			{"empty user", basic("", s.password)},
			{"Basic that is not base64", map[string]string{"Authorization": "Basic !!!not-base64!!!"}},
			{"Basic without a colon", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("admin"))}},
			{"Bearer instead of Basic", bearer(s.token(t, scope))},
			{"unknown scheme", map[string]string{"Authorization": "Digest username=\"admin\""}},
			{"refresh user with garbage", basic("00000000-0000-0000-0000-000000000000", "garbage")},
			{"refresh user with an access token", basic("00000000-0000-0000-0000-000000000000", s.token(t, scope))},
		} {
			r, _ := s.tokenRequest(t, s.addr, tc.header, scope)
			expectUnauthorized(t, tc.what, r)
		}
		for _, form := range []url.Values{
			{"grant_type": {"password"}, "username": {"admin"}, "password": {"wrong"}},
			{"grant_type": {"password"}, "username": {"admin"}},
			{"grant_type": {"refresh_token"}, "refresh_token": {"garbage"}},
			{"grant_type": {"refresh_token"}, "refresh_token": {s.token(t, scope)}},
			{"grant_type": {"client_credentials"}, "client_id": {"admin"}, "client_secret": {s.password}},
		} {
			form.Set("service", s.addr)
			form.Set("scope", scope)
			r := doHTTP(t, "POST", s.url+"/oauth2/token", []byte(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
			expectUnauthorized(t, "POST grant_type="+form.Get("grant_type"), r)
		}
	})
	step(t, "anonymous", func(t *testing.T) {
		// No credentials: a token that grants nothing (the registry does not
		// allow anonymous pull), which the data plane refuses.
		r, a := s.tokenRequest(t, s.addr, nil, scope)
		expectStatus(t, r, http.StatusOK)
		if got := grantedAccess(t, a.AccessToken); len(got) != 0 {
			t.Fatalf("an anonymous token grants %q, want nothing", got)
		}
		r = doHTTP(t, "GET", s.url+"/v2/"+reg+"/team/app/tags/list", nil, bearer(a.AccessToken))
		expectChallenge(t, s, r, s.addr, "insufficient_scope", "repository:"+reg+"/team/app:pull")
	})
}

// TestHTTPMalformedTokens sends broken, forged and misused bearer tokens to
// the data plane: each gets 401 with an invalid_token challenge and no content.
func TestHTTPMalformedTokens(t *testing.T) {
	s := moatServer(t)
	s.failureLog(t)
	reg := s.createRegistry(t, "badtok")
	name := reg + "/team/app"
	img := newTestImage(t, "amd64")
	pushImageHTTP(t, s, name, "v1", img)
	valid := s.token(t, "repository:"+name+":pull")

	// The valid token works (the control for everything below).
	manifestURL := s.url + "/v2/" + name + "/manifests/v1"
	r := doHTTP(t, "GET", manifestURL, nil, with(bearer(valid), "Accept", mtManifest))
	expectStatus(t, r, http.StatusOK)
	expectBytes(t, "manifest with a valid token", r.body, img.manifest.data)

	parts := strings.Split(valid, ".")
	header, claims := jwtPart(t, valid, 0), jwtPart(t, valid, 1)
	reencode := func(h, c map[string]any, sig string) string {
		return jwtEncode(t, h) + "." + jwtEncode(t, c) + "." + sig
	}
	changed := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	now := time.Now().Unix()
	widened := []any{
		map[string]any{"type": "repository", "name": name, "actions": []string{"pull", "push", "delete"}},
		map[string]any{"type": "registry", "name": "catalog", "actions": []string{"*"}},
	}
	flip := func(s string) string { // change one character of the signature
		b := []byte(s)
		if b[len(b)/2] == 'A' {
			b[len(b)/2] = 'B'
		} else {
			b[len(b)/2] = 'A'
		}
		return string(b)
	}
	_, refreshAnswer := s.offlineTokenRequest(t, s.addr, s.adminBasic(), "repository:"+name+":pull")

	bad := []struct{ what, value string }{
		{"garbage", "garbage"},
		{"three garbage parts", "a.b.c"},
		{"random base64 parts", jwtEncode(t, randomHex(20)) + "." + jwtEncode(t, randomHex(40)) + "." + jwtEncode(t, randomHex(40))},
		{"header and claims only", parts[0] + "." + parts[1]},
		{"empty signature", parts[0] + "." + parts[1] + "."},
		{"alg none", reencode(map[string]any{"alg": "none", "typ": "JWT"}, claims, "")},
		{"alg none with the kid", reencode(changed(header, "alg", "none"), claims, "")},
		{"alg None, signature kept", reencode(changed(header, "alg", "None"), claims, parts[2])},
		{"HS256 with a guessed secret", hs256(t, changed(header, "alg", "HS256"), claims, []byte("secret"))},
		{"ES256 by a foreign key with the server's kid", es256(t, header, claims)},
		{"expired, signed by a foreign key", es256(t, header, changed(claims, "exp", now-3600, "iat", now-7200, "nbf", now-7200))},
		{"tampered: widened access, original signature", reencode(header, changed(claims, "access", widened), parts[2])},
		{"tampered: expiry moved, original signature", reencode(header, changed(claims, "exp", now+30*24*3600), parts[2])},
		{"tampered: expired, original signature", reencode(header, changed(claims, "exp", now-3600), parts[2])},
		{"tampered: other subject, original signature", reencode(header, changed(claims, "sub", "00000000-0000-0000-0000-000000000001"), parts[2])},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2])},
		{"truncated signature", valid[:len(valid)-4]},
		{"unknown kid", reencode(changed(header, "kid", "0000000000000000"), claims, parts[2])},
		{"refresh token as an access token", refreshAnswer.RefreshToken},
	}
	for _, tc := range bad {
		if tc.value == "" {
			t.Fatalf("%s: no token to send", tc.what)
		}
		for _, u := range []string{manifestURL, s.url + "/v2/" + name + "/blobs/" + img.layer.digest, s.url + "/v2/"} {
			r := doHTTP(t, "GET", u, nil, with(bearer(tc.value), "Accept", mtManifest))
			if r.status != http.StatusUnauthorized {
				t.Fatalf("%s: want 401: %s", tc.what, r.desc)
			}
			expectChallenge(t, s, r, s.addr, "invalid_token", "")
			expectRefused(t, r, img.manifest, img.layer)
		}
	}
	// Not a bearer token at all: the administrator's password as Basic, a
	// token under another scheme, an empty Bearer.
	for _, h := range []string{
		"Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+s.password)),
		"Token " + valid,
		"bearer" + valid,
		"Bearer ",
		"Bearer",
	} {
		r := doHTTP(t, "GET", manifestURL, nil, map[string]string{"Authorization": h, "Accept": mtManifest})
		expectChallenge(t, s, r, s.addr, "", "repository:"+name+":pull")
		expectRefused(t, r, img.manifest)
	}
}

// hs256 signs header.claims with HMAC-SHA256 and key.
func hs256(t *testing.T, header, claims map[string]any, key []byte) string {
	t.Helper()
	in := jwtEncode(t, header) + "." + jwtEncode(t, claims)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// es256 signs header.claims with a new P-256 key (not the server's).
func es256(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	in := jwtEncode(t, header) + "." + jwtEncode(t, claims)
	sum := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestHTTPTokenAudience checks that a token is bound to the host it was
// issued for: one from 127.0.0.1:PORT is refused at localhost:PORT and the
// other way round, whatever service the client asked for.
func TestHTTPTokenAudience(t *testing.T) {
	s := moatServer(t)
	s.failureLog(t)
	reg := s.createRegistry(t, "tokaud")
	name := reg + "/team/app"
	img := newTestImage(t, "amd64")
	pushImageHTTP(t, s, name, "v1", img)
	scope := "repository:" + name + ":pull"
	local := strings.Replace(s.addr, "127.0.0.1", "localhost", 1)
	get := func(host, tok string) httpResult {
		return doHTTP(t, "GET", s.url+"/v2/"+name+"/manifests/v1", nil, map[string]string{"Host": host, "Authorization": "Bearer " + tok, "Accept": mtManifest})
	}

	fromIP := s.tokenAt(t, s.addr, scope)
	fromLocal := s.tokenAt(t, local, scope)
	// Controls: each works where it was issued.
	for _, c := range []struct{ host, tok string }{{s.addr, fromIP}, {local, fromLocal}} {
		r := get(c.host, c.tok)
		expectStatus(t, r, http.StatusOK)
		expectBytes(t, "manifest at "+c.host, r.body, img.manifest.data)
	}
	r := get(local, fromIP)
	expectChallenge(t, s, r, local, "invalid_token", scope)
	expectRefused(t, r, img.manifest)
	r = get(s.addr, fromLocal)
	expectChallenge(t, s, r, s.addr, "invalid_token", scope)
	expectRefused(t, r, img.manifest)

	// Naming the other host as the service does not get a token for it.
	q := url.Values{"service": {local}, "scope": {scope}}
	r = doHTTP(t, "GET", s.url+"/oauth2/token?"+q.Encode(), nil, s.adminBasic())
	if r.status == http.StatusOK {
		var a tokenAnswer
		if err := json.Unmarshal(r.body, &a); err != nil {
			t.Fatal(err)
		}
		r = get(local, a.AccessToken)
		expectChallenge(t, s, r, local, "invalid_token", scope)
		expectRefused(t, r, img.manifest)
	} else {
		expectStatus(t, r, http.StatusUnauthorized, http.StatusBadRequest)
	}
}

// TestHTTPTokenScopeIsolation checks that a token for one repository of
// registry A opens nothing else: not the same repository in registry B, not
// another repository of A, and not more than its actions.
func TestHTTPTokenScopeIsolation(t *testing.T) {
	s := moatServer(t)
	s.failureLog(t)
	regA := s.createRegistry(t, "scopea")
	regB := s.createRegistry(t, "scopeb")
	imgA, imgB := newTestImage(t, "amd64"), newTestImage(t, "arm64")
	nameA, nameB, otherA := regA+"/x", regB+"/x", regA+"/y"
	pushImageHTTP(t, s, nameA, "v1", imgA)
	pushImageHTTP(t, s, nameB, "v1", imgB)
	pushImageHTTP(t, s, otherA, "v1", imgB)

	tokA := bearer(s.token(t, "repository:"+nameA+":pull"))
	// The control: A's repository is readable with it.
	r := doHTTP(t, "GET", s.url+"/v2/"+nameA+"/manifests/v1", nil, with(tokA, "Accept", mtManifest))
	expectStatus(t, r, http.StatusOK)
	expectBytes(t, "manifest of A with A's token", r.body, imgA.manifest.data)

	for _, name := range []string{nameB, otherA, regB + "/" + nameA} {
		for _, rq := range []struct{ method, path string }{
			{"GET", "/manifests/v1"},
			{"HEAD", "/manifests/v1"},
			{"GET", "/manifests/" + imgB.manifest.digest},
			{"GET", "/blobs/" + imgB.layer.digest},
			{"HEAD", "/blobs/" + imgB.layer.digest},
			{"GET", "/blobs/" + imgA.layer.digest},
			{"GET", "/tags/list"},
			{"GET", "/referrers/" + imgB.manifest.digest},
			{"POST", "/blobs/uploads/"},
			{"POST", "/blobs/uploads/?mount=" + imgA.layer.digest + "&from=" + url.QueryEscape(nameA)},
			{"PUT", "/manifests/v2"},
			{"DELETE", "/manifests/" + imgB.manifest.digest},
		} {
			var body []byte
			if rq.method == "PUT" {
				body = imgA.manifest.data
			}
			r := doHTTP(t, rq.method, s.url+"/v2/"+name+rq.path, body, with(tokA, "Accept", mtManifest, "Content-Type", mtManifest))
			expectRefused(t, r, imgA.manifest, imgA.layer, imgB.manifest, imgB.layer)
		}
	}
	// Within its own repository the token may only pull.
	for _, rq := range []struct{ method, path string }{
		{"POST", "/blobs/uploads/"},
		{"PUT", "/manifests/v2"},
		{"DELETE", "/manifests/" + imgA.manifest.digest},
		{"DELETE", "/blobs/" + imgA.layer.digest},
	} {
		r := doHTTP(t, rq.method, s.url+"/v2/"+nameA+rq.path, imgA.manifest.data, with(tokA, "Content-Type", mtManifest))
		expectRefused(t, r)
	}
	// Nothing changed in B or A.
	all := s.auth(t, nameA, nameB)
	for name, img := range map[string]*testImage{nameA: imgA, nameB: imgB} {
		r := doHTTP(t, "GET", s.url+"/v2/"+name+"/manifests/v1", nil, with(all, "Accept", mtManifest))
		expectStatus(t, r, http.StatusOK)
		expectBytes(t, "manifest of "+name+" after the refused requests", r.body, img.manifest.data)
		r = doHTTP(t, "GET", s.url+"/v2/"+name+"/tags/list", nil, all)
		expectStatus(t, r, http.StatusOK)
		if strings.Contains(string(r.body), `"v2"`) {
			t.Fatalf("a refused PUT created tag v2 in %s: %s", name, r.desc)
		}
	}
	// The catalog needs its own scope.
	r = doHTTP(t, "GET", s.url+"/v2/_catalog", nil, tokA)
	expectRefused(t, r)
}

// TestHTTPTokenScopeUnknownRegistry checks that a scope naming a registry
// that does not exist grants nothing, and that such a token stays useless
// when a registry of that name is created later.
func TestHTTPTokenScopeUnknownRegistry(t *testing.T) {
	s := moatServer(t)
	s.failureLog(t)
	known := s.createRegistry(t, "scopeknown")
	future := uniqueName("scopefuture")
	tok := s.token(t, "repository:"+future+"/team/app:pull,push,delete",
		"repository:"+future+"/team/app:*",
		"repository:"+known+"/team/app:pull")
	if got := grantedAccess(t, tok); len(got) != 1 || got[0] != "repository:"+known+"/team/app:pull" {
		t.Fatalf("token grants %q, want only pull on %s/team/app (nothing on the missing registry %s)", got, known, future)
	}
	// Repository names that do not split into <registry>/<repo> grant nothing either.
	if got := grantedAccess(t, s.token(t, "repository:"+future+":pull", "repository:/x:pull", "repository::pull")); len(got) != 0 {
		t.Fatalf("scopes without a registry granted %q", got)
	}

	out, err := s.moat(t, nil, "acr", "create", "--name", future, "--sku", "Premium", "--server", s.url)
	if err != nil {
		t.Fatalf("moat acr create --name %s: %v\n%s", future, err, out)
	}
	name := future + "/team/app"
	for _, rq := range []struct{ method, path string }{
		{"GET", "/tags/list"},
		{"GET", "/manifests/latest"},
		{"POST", "/blobs/uploads/"},
	} {
		r := doHTTP(t, rq.method, s.url+"/v2/"+name+rq.path, nil, bearer(tok))
		expectRefused(t, r)
	}
	// A token asked for now grants it.
	pushImageHTTP(t, s, name, "v1", newTestImage(t, "amd64"))
}

// TestHTTPExpiredToken checks expiry with tokens signed by the server's own
// key: expired or not-yet-valid ones get 401 invalid_token, while one with the
// same claims and a valid lifetime works. It runs its own server, since the
// key is read from the stopped server's data directory.
func TestHTTPExpiredToken(t *testing.T) {
	shared := moatServer(t)
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(shared.bin, fmt.Sprintf("127.0.0.1:%d", port), t.TempDir(), newPassword())
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	s.failureLog(t)
	reg := s.createRegistry(t, "expiry")
	name := reg + "/team/app"
	img := newTestImage(t, "amd64")
	pushImageHTTP(t, s, name, "v1", img)
	issued := s.token(t, "repository:"+name+":pull")
	s.stop()

	now := time.Now()
	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(now.Add(d)) }
	lifetime := func(iat, nbf, exp time.Duration) func(*token.RegistryClaims) {
		return func(c *token.RegistryClaims) { c.IssuedAt, c.NotBefore, c.ExpiresAt = at(iat), at(nbf), at(exp) }
	}
	control := mintToken(t, s.dataDir, issued, lifetime(-time.Minute, -time.Minute, time.Hour))
	refused := []struct{ what, tok string }{
		{"expired an hour ago", mintToken(t, s.dataDir, issued, lifetime(-2*time.Hour, -2*time.Hour, -time.Hour))},
		{"expired two minutes ago", mintToken(t, s.dataDir, issued, lifetime(-time.Hour, -time.Hour, -2*time.Minute))},
		{"not valid for another hour", mintToken(t, s.dataDir, issued, lifetime(0, time.Hour, 2*time.Hour))},
		{"without an expiry", mintToken(t, s.dataDir, issued, func(c *token.RegistryClaims) { c.ExpiresAt = nil })},
		{"a refresh token's kind", mintToken(t, s.dataDir, issued, func(c *token.RegistryClaims) { c.Kind = token.KindRefresh })},
	}

	r, err := s.restarted()
	if err != nil {
		t.Fatal(err)
	}
	s = r
	t.Cleanup(s.stop)
	s.failureLog(t)
	get := func(tok string) httpResult {
		return doHTTP(t, "GET", s.url+"/v2/"+name+"/manifests/v1", nil, with(bearer(tok), "Accept", mtManifest))
	}
	for what, tok := range map[string]string{"minted with a valid lifetime": control, "issued before the restart": issued} {
		res := get(tok)
		if res.status != http.StatusOK {
			t.Fatalf("a token %s: want 200: %s", what, res.desc)
		}
		expectBytes(t, "manifest with a token "+what, res.body, img.manifest.data)
	}
	for _, tc := range refused {
		res := get(tc.tok)
		if res.status != http.StatusUnauthorized {
			t.Fatalf("a token %s: want 401: %s", tc.what, res.desc)
		}
		expectChallenge(t, s, res, s.addr, "invalid_token", "repository:"+name+":pull")
		expectRefused(t, res, img.manifest)
	}
}
