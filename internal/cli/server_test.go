package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/apiversion"
	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/server"
)

// realServer is a moat server running in-process on a loopback port.
type realServer struct {
	t    *testing.T
	base string
	host string
	// authOn: the management API requires sign-in.
	authOn bool
}

func startServer(t *testing.T) *realServer {
	t.Helper()
	t.Setenv("MOAT_ADMIN_PASSWORD", "admin-password-1")
	t.Setenv("MOAT_SERVER", "")
	t.Setenv("MOAT_CA_FILE", "")
	t.Setenv("MOAT_ACCESS_TOKEN", "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listeners = []config.Listener{{Name: "default", Address: addr, Kind: config.KindPublic}}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, func([]net.Addr) { close(ready) }) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("server: %v", err)
	}
	s := &realServer{t: t, base: "http://" + addr, host: addr}
	resp, err := http.Get(s.base + "/subscriptions?api-version=" + apiversion.ForClient("/subscriptions"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.authOn = resp.StatusCode == http.StatusUnauthorized
	return s
}

// as makes the following commands run as a separate CLI user: its own
// config directory (sessions) and Docker config.
func (s *realServer) as(name string) {
	dir := filepath.Join(s.t.TempDir(), name)
	s.t.Setenv("MOAT_CONFIG_DIR", filepath.Join(dir, "moat"))
	s.t.Setenv("DOCKER_CONFIG", filepath.Join(dir, "docker"))
}

func (s *realServer) run(stdin string, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := run(append(args, "--server", s.base), strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func (s *realServer) must(args ...string) string {
	s.t.Helper()
	out, errOut, code := s.run("", args...)
	if code != 0 {
		s.t.Fatalf("moat %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// registryToken asks the registry's token endpoint for scope with the
// refresh token and returns the actions granted on it.
func (s *realServer) registryToken(refresh, scope string) []string {
	s.t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "service": {s.host}, "scope": {scope}, "refresh_token": {refresh}}
	return s.grant(http.MethodPost, form, "", "")
}

// grant requests a registry token (POST form, or GET with Basic) and returns
// the actions of its first access entry; nil when refused.
func (s *realServer) grant(method string, form url.Values, user, pw string) []string {
	s.t.Helper()
	var req *http.Request
	if method == http.MethodPost {
		req, _ = http.NewRequest(method, s.base+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest(method, s.base+"/oauth2/token?"+form.Encode(), nil)
		req.SetBasicAuth(user, pw)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return nil
	}
	access, _ := jwtClaims(out.AccessToken)["access"].([]any)
	var acts []string
	for _, a := range access {
		for _, act := range dig(a, "actions").([]any) {
			acts = append(acts, act.(string))
		}
	}
	if acts == nil {
		acts = []string{}
	}
	return acts
}

// identityToken reads the refresh token `moat acr login` wrote for the host.
func (s *realServer) identityToken() string {
	s.t.Helper()
	raw, err := os.ReadFile(filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json"))
	if err != nil {
		s.t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		s.t.Fatal(err)
	}
	tok := str(cfg, "auths", s.host, "identitytoken")
	if tok == "" || str(cfg, "auths", s.host, "auth") != basicAuth(zeroUser, "") {
		s.t.Fatalf("docker config: %s", raw)
	}
	return tok
}

// TestAgainstServer runs the identity commands against a real in-process
// server: sign-in, users, service principals, role assignments, acr login
// and the tokens the registry then grants, the admin user. The checks that
// need the management API to require sign-in run when the server enforces it.
func TestAgainstServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	s := startServer(t)
	t.Logf("management authentication enforced: %v", s.authOn)
	s.as("admin")
	if s.authOn {
		_, errOut, code := s.run("", "acr", "list")
		if code == 0 || !strings.HasPrefix(errOut, "ERROR: not signed in to the moat server at "+s.base) {
			t.Errorf("before login: %q", errOut)
		}
	}
	if _, errOut, _ := s.run("", "login", "-u", "admin", "-p", "wrong"); !strings.HasPrefix(errOut, "ERROR: AADSTS50126") {
		t.Errorf("bad password: %q", errOut)
	}
	if out := s.must("login", "-u", "admin", "-p", "admin-password-1", "--query", "[0].user.name", "-o", "tsv"); out != "admin\n" {
		t.Errorf("login: %q", out)
	}
	regID := strings.TrimSpace(s.must("acr", "create", "-n", "myreg1", "--sku", "Premium", "--query", "id", "-o", "tsv"))
	s.must("ad", "user", "create", "--user-principal-name", "puller", "--password", "puller-password")
	s.must("ad", "user", "create", "--user-principal-name", "pusher@example.com", "--password", "pusher-password", "--display-name", "Pusher")
	s.must("role", "assignment", "create", "--assignee", "puller", "--role", "AcrPull", "--scope", regID)
	s.must("role", "assignment", "create", "--assignee", "pusher@example.com", "--role", "AcrPush", "--scope", regID)
	var sp map[string]string
	if err := json.Unmarshal([]byte(s.must("ad", "sp", "create-for-rbac", "--name", "ci", "--role", "AcrPull", "--scopes", regID)), &sp); err != nil || sp["password"] == "" {
		t.Fatalf("create-for-rbac: %v %v", sp, err)
	}
	got := s.must("role", "assignment", "list", "--all", "--query", "[].[principalName, roleDefinitionName]", "-o", "tsv")
	for _, want := range []string{"admin\tOwner\n", "puller\tAcrPull\n", "pusher@example.com\tAcrPush\n", sp["appId"] + "\tAcrPull\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("role assignment list --all: %q lacks %q", got, want)
		}
	}
	if out := s.must("role", "assignment", "list", "--scope", regID, "--include-inherited", "--query", "length(@)"); out != "4\n" {
		t.Errorf("assignments that apply at the registry: %s", out)
	}

	// An AcrPull user: acr login, then the registry grants pull only.
	s.as("puller")
	s.must("login", "-u", "puller", "-p", "puller-password", "-o", "none")
	if out := s.must("acr", "login", "-n", "myreg1"); out != "Login Succeeded\n" {
		t.Errorf("acr login: %q", out)
	}
	if acts := s.registryToken(s.identityToken(), "repository:myreg1/app:pull,push"); !slices.Equal(acts, []string{"pull"}) {
		t.Errorf("AcrPull user granted %v", acts)
	}
	if s.authOn {
		_, errOut, code := s.run("", "acr", "create", "-n", "other1", "--sku", "Basic")
		if code == 0 || !strings.HasPrefix(errOut, "ERROR: (AuthorizationFailed)") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("AcrPull user creating a registry: %q", errOut)
		}
	}

	// An AcrPush user gets pull and push.
	s.as("pusher")
	s.must("login", "-u", "pusher@example.com", "-p", "pusher-password", "-o", "none")
	s.must("acr", "login", "-n", "myreg1")
	if acts := s.registryToken(s.identityToken(), "repository:myreg1/app:pull,push"); !slices.Equal(acts, []string{"pull", "push"}) {
		t.Errorf("AcrPush user granted %v", acts)
	}

	// The service principal signs in with its secret; --expose-token.
	s.as("sp")
	s.must("login", "--service-principal", "-u", sp["appId"], "-p", sp["password"], "--tenant", sp["tenant"], "-o", "none")
	var exposed map[string]string
	if err := json.Unmarshal([]byte(s.must("acr", "login", "-n", "myreg1", "--expose-token", "--only-show-errors")), &exposed); err != nil {
		t.Fatal(err)
	}
	if exposed["loginServer"] != s.host+"/myreg1" || exposed["username"] != zeroUser {
		t.Errorf("--expose-token: %v", exposed)
	}
	if acts := s.registryToken(exposed["accessToken"], "repository:myreg1/app:pull,push"); !slices.Equal(acts, []string{"pull"}) {
		t.Errorf("AcrPull service principal granted %v", acts)
	}
	if acts := s.grant(http.MethodGet, url.Values{"service": {s.host}, "scope": {"repository:myreg1/app:pull"}}, zeroUser, exposed["accessToken"]); !slices.Equal(acts, []string{"pull"}) {
		t.Errorf("refresh token as the password of the zero user: %v", acts)
	}

	// The admin user.
	s.as("admin")
	s.must("login", "-u", "admin", "-p", "admin-password-1", "-o", "none")
	if _, errOut, _ := s.run("", "acr", "credential", "show", "-n", "myreg1"); !strings.Contains(errOut, "admin user is disabled; enable it with moat acr update --name myreg1 --admin-enabled true") {
		t.Errorf("disabled admin user: %q", errOut)
	}
	s.must("acr", "update", "-n", "myreg1", "--admin-enabled", "true")
	pws := strings.Fields(s.must("acr", "credential", "show", "-n", "myreg1", "--query", "passwords[].value", "-o", "tsv"))
	if len(pws) != 2 {
		t.Fatalf("passwords: %v", pws)
	}
	push := url.Values{"service": {s.host}, "scope": {"repository:myreg1/app:pull,push"}}
	for _, pw := range pws {
		if acts := s.grant(http.MethodGet, push, "myreg1", pw); !slices.Equal(acts, []string{"pull", "push"}) {
			t.Errorf("admin user granted %v", acts)
		}
	}
	s.must("acr", "credential", "renew", "-n", "myreg1", "--password-name", "password")
	if acts := s.grant(http.MethodGet, push, "myreg1", pws[0]); acts != nil {
		t.Errorf("the renewed password still works: %v", acts)
	}
	if acts := s.grant(http.MethodGet, push, "myreg1", pws[1]); !slices.Equal(acts, []string{"pull", "push"}) {
		t.Errorf("password2 after renewing password: %v", acts)
	}
	s.must("acr", "login", "-n", "myreg1", "-u", "myreg1", "-p", pws[1])
	if _, errOut, code := s.run("", "acr", "login", "-n", "myreg1", "-u", "myreg1", "-p", pws[0]); code == 0 || !strings.Contains(errOut, "refused the credentials of myreg1") {
		t.Errorf("acr login with the old password: %q", errOut)
	}

	// Directory clean-up; signing out.
	s.must("ad", "sp", "delete", "--id", sp["appId"])
	s.must("ad", "user", "delete", "--id", "puller")
	if out := s.must("role", "assignment", "list", "--all", "--query", "length(@)"); out != "2\n" {
		t.Errorf("assignments after deleting principals: %s", out)
	}
	s.must("logout")
	if s.authOn {
		if _, errOut, _ := s.run("", "acr", "list"); !strings.Contains(errOut, "not signed in") {
			t.Errorf("after logout: %q", errOut)
		}
	}
}

// offlineToken signs in at the registry's token endpoint as docker login
// does (Basic, offline_token=true, client_id=docker) and returns the
// refresh token it answers.
func (s *realServer) offlineToken(user, pw string) string {
	s.t.Helper()
	q := url.Values{"service": {s.host}, "offline_token": {"true"}, "client_id": {"docker"}, "account": {user}}
	req, _ := http.NewRequest(http.MethodGet, s.base+"/oauth2/token?"+q.Encode(), nil)
	req.SetBasicAuth(user, pw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.RefreshToken == "" {
		s.t.Fatalf("docker-style login as %s: %s %v", user, resp.Status, err)
	}
	return out.RefreshToken
}
