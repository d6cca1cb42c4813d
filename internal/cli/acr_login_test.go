package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// host is the fake server's host:port.
func (f *fakeARM) host() string {
	u, _ := url.Parse(f.srv.URL)
	return u.Host
}

// dockerConfig reads $DOCKER_CONFIG/config.json.
func dockerConfig(t *testing.T) map[string]any {
	t.Helper()
	p := filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return m
}

// loginFixture is a signed-in fake server with registry reg1 at loginServer.
func loginFixture(t *testing.T, loginServer string) (*fakeARM, *fakeIdP) {
	f := newFakeARM(t)
	idp := newFakeIdP(f)
	if loginServer == "" {
		loginServer = f.host() + "/reg1"
	}
	reg := registryFixture("reg1", "rg1", nil)
	dig(reg, "properties").(map[string]any)["loginServer"] = loginServer
	f.on("GET", "~/providers/Microsoft.ContainerRegistry/registries", 200, list(reg))
	f.on("GET", regID, 200, reg)
	f.mustRun("login", "-u", "alice", "-p", "good-password", "-o", "none")
	return f, idp
}

func TestACRLogin(t *testing.T) {
	f, idp := loginFixture(t, "")
	host := f.host()
	// The Docker config has other entries, which are kept.
	p := filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json")
	if err := os.WriteFile(p, []byte(`{"auths":{"other.example":{"auth":"b3RoZXI6cHc="}},"psFormat":"table","credHelpers":{"gcr.io":"gcloud"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := f.mustRun("acr", "login", "--name", "reg1")
	if out != "Login Succeeded\n" {
		t.Errorf("stdout %q", out)
	}
	if len(idp.exchanges) != 1 {
		t.Fatalf("%d exchanges", len(idp.exchanges))
	}
	ex := idp.exchanges[0]
	if ex.Get("grant_type") != "access_token" || ex.Get("service") != host+"/reg1" || ex.Get("access_token") != f.session().AccessToken {
		t.Errorf("exchange form: %v", ex)
	}
	cfg := dockerConfig(t)
	want := map[string]any{
		"auths": map[string]any{
			"other.example": map[string]any{"auth": "b3RoZXI6cHc="},
			host:            map[string]any{"auth": base64.StdEncoding.EncodeToString([]byte(zeroUser + ":")), "identitytoken": "registry-rt-for-" + host + "/reg1"},
		},
		"psFormat":    "table",
		"credHelpers": map[string]any{"gcr.io": "gcloud"},
	}
	if !jsonEqual(cfg, want) {
		t.Errorf("docker config:\n%s\nwant:\n%s", pretty(cfg), pretty(want))
	}

	// --expose-token prints the token and writes nothing.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := f.run("", "acr", "login", "-n", "reg1", "--expose-token")
	if code != 0 {
		t.Fatal(errOut)
	}
	if !jsonEqual(json.RawMessage(out), object{"accessToken": "registry-rt-for-" + host + "/reg1", "loginServer": host + "/reg1", "username": zeroUser}) {
		t.Errorf("--expose-token printed %s", out)
	}
	if !strings.HasPrefix(errOut, "WARNING: You can perform manual login using the provided access token") {
		t.Errorf("--expose-token stderr %q", errOut)
	}
	if _, err := os.Stat(p); err == nil {
		t.Errorf("--expose-token wrote the Docker config")
	}
	if out := f.mustRun("acr", "login", "-n", "reg1", "--expose-token", "--query", "accessToken", "-o", "tsv", "--only-show-errors"); out != "registry-rt-for-"+host+"/reg1\n" {
		t.Errorf("--query accessToken: %q", out)
	}
}

// routeAllTo makes the CLI's connections to any host go to the fake server
// (host-style login servers).
func routeAllTo(t *testing.T, f *fakeARM) {
	addr := f.srv.Listener.Addr().String()
	transport = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	t.Cleanup(func() { transport = nil })
}

// TestACRLoginHostStyle: a login server on another host than the management
// API takes the session's own management token at its /oauth2/exchange (the
// server accepts its configured audiences whatever host is asked), with no
// token request for the login server's host.
func TestACRLoginHostStyle(t *testing.T) {
	f, idp := loginFixture(t, "reg1.moat.test")
	routeAllTo(t, f)
	f.requests()
	before := len(idp.forms)
	f.mustRun("acr", "login", "-n", "reg1")
	if len(idp.forms) != before {
		t.Errorf("token requests for the login server: %v", idp.forms[before:])
	}
	var exHost string
	for _, r := range f.requests() {
		if r.Path == "/oauth2/exchange" {
			exHost = r.Host
		}
	}
	ex := idp.exchanges[len(idp.exchanges)-1]
	if exHost != "reg1.moat.test" || ex.Get("service") != "reg1.moat.test" || ex.Get("access_token") != f.session().AccessToken {
		t.Errorf("exchange at %q: %v", exHost, ex)
	}
	if _, ok := dig(dockerConfig(t), "auths", "reg1.moat.test", "identitytoken").(string); !ok {
		t.Errorf("docker config: %v", dockerConfig(t))
	}
}

// TestACRLoginWithoutRegistryRead: a user with data-plane roles only cannot
// read the registry resource; like az, the login server is built from the name.
func TestACRLoginWithoutRegistryRead(t *testing.T) {
	f := newFakeARM(t)
	idp := newFakeIdP(f)
	f.on("GET", "~/providers/Microsoft.ContainerRegistry/registries", 200, list())
	f.mustRun("login", "-u", "alice", "-p", "good-password", "-o", "none")
	out := f.mustRun("acr", "login", "-n", "Reg1", "--expose-token", "--query", "loginServer", "-o", "tsv")
	if out != f.host()+"/reg1\n" {
		t.Errorf("path style: %q", out)
	}
	idp.suffix = "moat.test"
	routeAllTo(t, f)
	out = f.mustRun("acr", "login", "-n", "Reg1", "--expose-token", "--query", "loginServer", "-o", "tsv")
	if out != "reg1.moat.test\n" {
		t.Errorf("host style: %q", out)
	}
	// Not on 443: the server's acrLoginServer suffix names the port.
	idp.suffix = "moat.test:6204"
	out = f.mustRun("acr", "login", "-n", "Reg1", "--expose-token", "--query", "loginServer", "-o", "tsv")
	if out != "reg1.moat.test:6204\n" {
		t.Errorf("host style on port 6204: %q", out)
	}
}

func TestACRLoginCredentialHelper(t *testing.T) {
	f, _ := loginFixture(t, "")
	dir := t.TempDir()
	got := filepath.Join(dir, "stored.json")
	script := "#!/bin/sh\n[ \"$1\" = store ] || exit 3\ncat > " + got + "\n"
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-fake"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	p := filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json")
	if err := os.WriteFile(p, []byte(`{"credsStore":"fake"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f.mustRun("acr", "login", "-n", "reg1")
	raw, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(json.RawMessage(raw), object{"ServerURL": f.host(), "Username": "<token>", "Secret": "registry-rt-for-" + f.host() + "/reg1"}) {
		t.Errorf("helper got %s", raw)
	}
	if raw, _ := os.ReadFile(p); string(raw) != `{"credsStore":"fake"}` {
		t.Errorf("the config file changed: %s", raw)
	}
	// A helper that fails is an error that says what to do.
	if err := os.WriteFile(p, []byte(`{"credsStore":"missing-helper"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := f.run("", "acr", "login", "-n", "reg1")
	if code == 0 || !strings.Contains(errOut, "docker-credential-missing-helper, which failed") {
		t.Errorf("missing helper: %q", errOut)
	}
}

func TestACRLoginUsernamePassword(t *testing.T) {
	f, idp := loginFixture(t, "")
	f.mustRun("acr", "login", "-n", "reg1", "-u", "reg1", "-p", "adminpw")
	if auth := dig(dockerConfig(t), "auths", f.host(), "auth"); auth != base64.StdEncoding.EncodeToString([]byte("reg1:adminpw")) {
		t.Errorf("auth %v", auth)
	}
	if len(idp.exchanges) != 0 {
		t.Errorf("a password login exchanged a token")
	}
	_, errOut, code := f.run("", "acr", "login", "-n", "reg1", "-u", "reg1", "-p", "wrong")
	if code == 0 || !strings.Contains(errOut, "the registry refused the credentials of reg1: UNAUTHORIZED: invalid username or password") {
		t.Errorf("wrong password: %q", errOut)
	}
}

func TestACRLoginErrors(t *testing.T) {
	f, _ := loginFixture(t, "")
	t.Setenv("MOAT_ACCESS_TOKEN", "not-a-jwt")
	_, errOut, code := f.run("", "acr", "login", "-n", "reg1")
	if code == 0 || !strings.Contains(errOut, "refused the token in MOAT_ACCESS_TOKEN (UNAUTHORIZED: the access_token is not a valid identity token of this server)") {
		t.Errorf("refused exchange: %q", errOut)
	}
	t.Setenv("MOAT_ACCESS_TOKEN", "")
	f.mustRun("logout")
	_, errOut, code = f.run("", "acr", "login", "-n", "reg1")
	if code == 0 || !strings.Contains(errOut, "not signed in to the moat server") {
		t.Errorf("signed out: %q", errOut)
	}
}
