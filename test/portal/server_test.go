// Package portal_test drives the web portal in a real browser (Debian's
// headless chromium through chromedp) against a moat server started
// in-process on a free port, and reads the state back through the
// management API.
package portal_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/apiversion"
	"github.com/moat-registry/moat/internal/cli"
	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/server"
)

const adminPassword = "portal-Test-pw-1"

// TestMain keeps the server's request log out of the test output.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(m.Run())
}

// env is a started server.
type env struct {
	t     testing.TB
	srv   *server.Server
	base  string // http://127.0.0.1:port
	token string // the administrator's management token
	// suffix is the login-server suffix in host style ("": path style).
	suffix string
}

func start(t testing.TB) *env { return startWith(t, "") }

// startWith starts a server with the login-server suffix (host style).
func startWith(t testing.TB, suffix string) *env {
	t.Helper()
	t.Setenv("MOAT_ADMIN_PASSWORD", adminPassword)
	cfg := config.Default()
	cfg.DataDir, cfg.LoginServerSuffix = t.TempDir(), suffix
	cfg.Listeners = []config.Listener{{Name: "default", Address: "127.0.0.1:0", Kind: config.KindPublic}}
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan []net.Addr, 1), make(chan error, 1)
	go func() { done <- srv.Run(ctx, func(a []net.Addr) { ready <- a }) }()
	var addrs []net.Addr
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	e := &env{t: t, srv: srv, base: "http://" + addrs[0].String(), suffix: suffix}
	e.token = e.signIn("admin", adminPassword)
	return e
}

// cli runs a moat CLI command in-process against the server as the
// administrator (MOAT_ACCESS_TOKEN) and returns its standard output.
func (e *env) cli(t *testing.T, args ...string) string {
	t.Helper()
	t.Setenv("MOAT_ACCESS_TOKEN", e.token)
	t.Setenv("MOAT_CONFIG_DIR", t.TempDir())
	var out, errOut bytes.Buffer
	if code := cli.Main(append(args, "--server", e.base), &out, &errOut); code != 0 {
		t.Fatalf("moat %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	return out.String()
}

// signIn gets a management token from the authority (as 'moat login').
func (e *env) signIn(user, pw string) string {
	e.t.Helper()
	resp, err := http.PostForm(e.base+"/identity/"+e.srv.Tenant()+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"password"}, "client_id": {"portal-test"}, "username": {user}, "password": {pw},
		"scope": {"https://management.azure.com/.default"}})
	return e.accessToken("sign-in", resp, err)
}

// accessToken reads the access_token of a token endpoint's answer.
func (e *env) accessToken(what string, resp *http.Response, err error) string {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		e.t.Fatalf("%s: %s %v", what, resp.Status, err)
	}
	return out.AccessToken
}

// api calls the management API and decodes a JSON answer.
func (e *env) api(method, path string, body any) map[string]any {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	// the version the portal and CLI send: it has every member moat serves
	req, _ := http.NewRequest(method, e.base+path+sep+"api-version="+apiversion.ForClient(path), rd)
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		e.t.Fatalf("%s %s: %s %s", method, path, resp.Status, raw)
	}
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return out
}

func (e *env) group() string {
	return "/subscriptions/" + e.srv.Subscription() + "/resourceGroups/default"
}

func (e *env) registryID(name string) string {
	return e.group() + "/providers/Microsoft.ContainerRegistry/registries/" + name
}

func (e *env) subnetID(vnet, subnet string) string {
	return e.group() + "/providers/Microsoft.Network/virtualNetworks/" + vnet + "/subnets/" + subnet
}

// dig walks a decoded JSON document.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// chromium finds Debian's chromium. Under MOAT_E2E=1 its absence fails the
// test; otherwise the test is skipped with the reason.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed (scripts/install-test-deps installs it: apt-get install -y chromium)"
	if os.Getenv("MOAT_E2E") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// screenshotDir is docs/img when MOAT_PORTAL_SCREENSHOTS is set (to refresh
// the documentation's pictures), else a temporary directory.
func screenshotDir(t *testing.T) string {
	if os.Getenv("MOAT_PORTAL_SCREENSHOTS") == "" {
		return t.TempDir()
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "docs", "img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// assignments counts the role assignments of role made at scope.
func (e *env) assignments(scope, role string) int {
	e.t.Helper()
	n := 0
	list, _ := e.api("GET", scope+"/providers/Microsoft.Authorization/roleAssignments", nil)["value"].([]any)
	for _, a := range list {
		if strings.EqualFold(dig(a, "properties", "scope").(string), scope) && strings.HasSuffix(dig(a, "properties", "roleDefinitionId").(string), roleIDs[role]) {
			n++
		}
	}
	return n
}

var roleIDs = map[string]string{"AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec"}

// push uploads an image (config and one layer) as repo:tag and an SBOM-like
// artifact that refers to it, through the data plane with the
// administrator's password; it returns the image manifest's digest.
func (e *env) push(registry, repo, tag string) string {
	e.t.Helper()
	// Path style: <host>/<registry>/<repo>; host style: <registry>.<suffix>/<repo>.
	host, name := strings.TrimPrefix(e.base, "http://"), registry+"/"+repo
	if e.suffix != "" {
		host, name = registry+"."+e.suffix, repo
	}
	tok := e.registryToken(host, "repository:"+name+":pull,push")
	blob := func(mediaType string, b []byte) map[string]any {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		e.data(host, tok, http.MethodPost, "/v2/"+name+"/blobs/uploads/?digest="+d, "application/octet-stream", b, http.StatusCreated)
		return map[string]any{"mediaType": mediaType, "digest": d, "size": len(b)}
	}
	manifest := func(ref string, m map[string]any) map[string]any {
		b, _ := json.Marshal(m)
		e.data(host, tok, http.MethodPut, "/v2/"+name+"/manifests/"+ref, m["mediaType"].(string), b, http.StatusCreated)
		return map[string]any{"mediaType": m["mediaType"], "digest": fmt.Sprintf("sha256:%x", sha256.Sum256(b)), "size": len(b)}
	}
	const ociManifest = "application/vnd.oci.image.manifest.v1+json"
	img := manifest(tag, map[string]any{"schemaVersion": 2, "mediaType": ociManifest,
		"config": blob("application/vnd.oci.image.config.v1+json", []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)),
		"layers": []any{blob("application/vnd.oci.image.layer.v1.tar+gzip", bytes.Repeat([]byte("portal layer "), 4000))}})
	sbom := map[string]any{"schemaVersion": 2, "mediaType": ociManifest, "artifactType": "application/spdx+json",
		"config": blob("application/vnd.oci.empty.v1+json", []byte("{}")),
		"layers": []any{blob("application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`))}, "subject": img}
	b, _ := json.Marshal(sbom)
	manifest(fmt.Sprintf("sha256:%x", sha256.Sum256(b)), sbom)
	return img["digest"].(string)
}

// registryToken gets a registry access token with the administrator's password.
func (e *env) registryToken(host, scope string) string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+"/oauth2/token?service="+url.QueryEscape(host)+"&scope="+url.QueryEscape(scope), nil)
	req.Host = host
	req.SetBasicAuth("admin", adminPassword)
	resp, err := http.DefaultClient.Do(req)
	return e.accessToken("registry token", resp, err)
}

func (e *env) data(host, tok, method, path, contentType string, body []byte, want int) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	req.Host = host
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
}
