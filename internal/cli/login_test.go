package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testTenant = "99999999-0000-0000-0000-000000000009"

// fakeIdP is the server's identity side for CLI tests: /metadata/endpoints,
// the token endpoint (password, refresh_token, client_credentials) and the
// registry's /oauth2/exchange. It records the forms it gets.
type fakeIdP struct {
	f  *fakeARM
	mu sync.Mutex
	// forms are the token requests, in order.
	forms []url.Values
	// exchanges are the /oauth2/exchange requests.
	exchanges []url.Values
	n         int
	// expiresIn is the lifetime of the tokens issued.
	expiresIn int
	// suffix is the login-server suffix /metadata/endpoints reports.
	suffix string
	// audience, when set, is the management audience it reports (else the
	// URL the request reached).
	audience string
}

// fakeJWT makes an unsigned token with claims (enough for display).
func fakeJWT(claims map[string]any) string {
	raw, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString(raw) + ".sig"
}

func newFakeIdP(f *fakeARM) *fakeIdP {
	p := &fakeIdP{f: f, expiresIn: 3600}
	f.handle("/metadata/endpoints", func(w http.ResponseWriter, r *http.Request) {
		base := "http://" + r.Host
		if r.TLS != nil {
			base = "https://" + r.Host
		}
		aud := p.audience
		if aud == "" {
			aud = base + "/"
		}
		writeTestJSON(w, 200, object{"name": "moat", "authentication": object{
			"loginEndpoint": base + "/identity/", "tenant": testTenant, "audiences": []any{aud}},
			"suffixes": object{"acrLoginServer": p.suffix}})
	})
	f.handle("/identity/", p.token)
	f.handle("/oauth2/exchange", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		p.exchanges = append(p.exchanges, r.PostForm)
		p.mu.Unlock()
		if !strings.HasPrefix(r.PostForm.Get("access_token"), "at-") && strings.Count(r.PostForm.Get("access_token"), ".") != 2 {
			writeTestJSON(w, 401, object{"errors": []any{object{"code": "UNAUTHORIZED", "message": "the access_token is not a valid identity token of this server"}}})
			return
		}
		writeTestJSON(w, 200, object{"refresh_token": "registry-rt-for-" + r.PostForm.Get("service")})
	})
	f.handle("/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		if u, pw, _ := r.BasicAuth(); u == "reg1" && pw == "adminpw" {
			writeTestJSON(w, 200, object{"token": "x"})
			return
		}
		writeTestJSON(w, 401, object{"errors": []any{object{"code": "UNAUTHORIZED", "message": "invalid username or password"}}})
	})
	return p
}

func writeTestJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *fakeIdP) token(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/identity/"+testTenant+"/oauth2/v2.0/token" {
		writeTestJSON(w, 400, object{"error": "invalid_request", "error_description": "AADSTS90002: Tenant not found."})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		writeTestJSON(w, 400, object{"error": "invalid_request", "error_description": "content type " + ct})
		return
	}
	_ = r.ParseForm()
	p.mu.Lock()
	p.forms = append(p.forms, r.PostForm)
	p.n++
	n := p.n
	p.mu.Unlock()
	fail := func(desc string) {
		writeTestJSON(w, 400, object{"error": "invalid_grant", "error_description": desc})
	}
	claims := map[string]any{"tid": testTenant, "aud": strings.TrimSuffix(strings.Fields(r.PostForm.Get("scope"))[0], "/.default")}
	resp := object{"token_type": "Bearer", "expires_in": p.expiresIn}
	switch r.PostForm.Get("grant_type") {
	case "password":
		if r.PostForm.Get("password") != "good-password" {
			fail("AADSTS50126: Error validating credentials due to invalid username or password.")
			return
		}
		claims["oid"], claims["upn"] = "oid-"+r.PostForm.Get("username"), r.PostForm.Get("username")
		resp["refresh_token"] = fmt.Sprintf("rt-%d", n)
	case "refresh_token":
		if !strings.HasPrefix(r.PostForm.Get("refresh_token"), "rt-") {
			fail("AADSTS9002313: The refresh token is invalid, expired, or was issued to another client.")
			return
		}
		claims["oid"], claims["upn"] = "oid-alice", "alice"
		resp["refresh_token"] = fmt.Sprintf("rt-%d", n)
	case "client_credentials":
		if r.PostForm.Get("client_secret") != "sp-secret" {
			writeTestJSON(w, 401, object{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
			return
		}
		claims["oid"], claims["appid"] = "oid-sp", r.PostForm.Get("client_id")
	default:
		fail("unsupported grant")
		return
	}
	claims["n"] = n
	resp["access_token"] = fakeJWT(claims)
	writeTestJSON(w, 200, resp)
}

func (p *fakeIdP) lastForm() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.forms) == 0 {
		return nil
	}
	return p.forms[len(p.forms)-1]
}

func (p *fakeIdP) tokenCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.forms)
}

// session returns the saved session of the fake server.
func (f *fakeARM) session() *session {
	f.t.Helper()
	s, err := loadSession(f.srv.URL)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// expire makes the saved session's access token expired.
func (f *fakeARM) expire() {
	f.t.Helper()
	s := f.session()
	s.ExpiresOn = time.Now().Add(-time.Minute)
	if err := saveSession(f.srv.URL, s); err != nil {
		f.t.Fatal(err)
	}
}

func TestLoginUser(t *testing.T) {
	f := newFakeARM(t)
	idp := newFakeIdP(f)
	f.on("GET", "~/providers/Microsoft.ContainerRegistry/registries", 200, list())
	out := f.mustRun("login", "-u", "alice", "-p", "good-password")
	var accounts []object
	if err := json.Unmarshal([]byte(out), &accounts); err != nil || len(accounts) != 1 {
		t.Fatalf("login printed %q", out)
	}
	want := object{"cloudName": "moat", "id": testSub, "isDefault": true, "name": "moat", "state": "Enabled",
		"tenantId": testTenant, "homeTenantId": testTenant, "managedByTenants": []any{}, "user": object{"name": "alice", "type": "user"}}
	if !jsonEqual(accounts[0], want) {
		t.Errorf("login printed %s, want %s", pretty(accounts[0]), pretty(want))
	}
	form := idp.lastForm()
	if form.Get("grant_type") != "password" || form.Get("username") != "alice" || form.Get("password") != "good-password" ||
		form.Get("client_id") != cliClientID || form.Get("scope") != f.srv.URL+"/.default offline_access openid profile" {
		t.Errorf("token request: %v", form)
	}
	// The session is saved, readable only by its owner.
	p, _ := sessionsPath()
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("sessions file: %v %v", st, err)
	}
	s := f.session()
	if s == nil || s.UserType != userTypeUser || s.UserName != "alice" || s.RefreshToken == "" || s.ClientSecret != "" ||
		s.ObjectID != "oid-alice" || s.Tenant != testTenant || time.Until(s.ExpiresOn) < 50*time.Minute {
		t.Fatalf("session: %+v", s)
	}
	// Every management request carries the session's token.
	f.requests()
	f.mustRun("acr", "list")
	for _, r := range f.requests() {
		if r.Auth != "Bearer "+s.AccessToken {
			t.Errorf("%s: Authorization %q", r, r.Auth)
		}
	}
	// The server signed in to is the default of later commands.
	cfg, _ := loadConfig()
	if cfg.Server != f.srv.URL {
		t.Errorf("config server %q", cfg.Server)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"acr", "list", "--query", "length(@)"}, nil, &stdout, &stderr); code != 0 || stdout.String() != "0\n" {
		t.Errorf("without --server: %d %q %q", code, stdout.String(), stderr.String())
	}
	// MOAT_ACCESS_TOKEN overrides the session.
	f.requests()
	t.Setenv("MOAT_ACCESS_TOKEN", "env-token")
	f.mustRun("acr", "list")
	for _, r := range f.requests() {
		if r.Auth != "Bearer env-token" {
			t.Errorf("%s: Authorization %q with MOAT_ACCESS_TOKEN", r, r.Auth)
		}
	}
}

func TestLoginRenewal(t *testing.T) {
	f := newFakeARM(t)
	idp := newFakeIdP(f)
	f.on("GET", "~/providers/Microsoft.ContainerRegistry/registries", 200, list())
	f.mustRun("login", "-u", "alice", "-p", "good-password", "-o", "none")
	first := f.session()

	// A valid token is used as is: no token request.
	n := idp.tokenCount()
	f.mustRun("acr", "list")
	if idp.tokenCount() != n {
		t.Errorf("a valid token was renewed")
	}
	// An expired one is renewed with the refresh token, once per command.
	f.expire()
	f.requests()
	f.mustRun("acr", "list")
	form := idp.lastForm()
	if idp.tokenCount() != n+1 || form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != first.RefreshToken ||
		form.Get("client_id") != cliClientID || !strings.HasPrefix(form.Get("scope"), f.srv.URL+"/.default") {
		t.Fatalf("renewal: %d requests, last %v", idp.tokenCount()-n, form)
	}
	renewed := f.session()
	if renewed.AccessToken == first.AccessToken || renewed.RefreshToken == first.RefreshToken || time.Until(renewed.ExpiresOn) < 50*time.Minute {
		t.Errorf("renewed session not saved: %+v", renewed)
	}
	for _, r := range f.requests() {
		if !strings.HasPrefix(r.Path, "/identity/") && r.Auth != "Bearer "+renewed.AccessToken {
			t.Errorf("%s sent %q, not the renewed token", r, r.Auth)
		}
	}
	// A refresh token the authority refuses: one line saying to sign in again.
	renewed.RefreshToken = "revoked"
	renewed.ExpiresOn = time.Now()
	if err := saveSession(f.srv.URL, renewed); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := f.run("", "acr", "list")
	if code == 0 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "has expired and could not be renewed") || !strings.Contains(errOut, "moat login") {
		t.Errorf("revoked refresh token: %d %q", code, errOut)
	}
}

func TestLoginServicePrincipal(t *testing.T) {
	f := newFakeARM(t)
	idp := newFakeIdP(f)
	f.on("GET", "~/providers/Microsoft.ContainerRegistry/registries", 200, list())
	out := f.mustRun("login", "--service-principal", "-u", "app-1", "-p", "sp-secret", "--tenant", testTenant, "--query", "[0].user")
	if !jsonEqual(json.RawMessage(out), object{"name": "app-1", "type": "servicePrincipal"}) {
		t.Errorf("login printed %s", out)
	}
	form := idp.lastForm()
	if form.Get("grant_type") != "client_credentials" || form.Get("client_id") != "app-1" || form.Get("client_secret") != "sp-secret" || form.Get("scope") != f.srv.URL+"/.default" {
		t.Errorf("token request: %v", form)
	}
	s := f.session()
	if s.UserType != userTypeSP || s.ClientSecret != "sp-secret" || s.RefreshToken != "" {
		t.Fatalf("session: %+v", s)
	}
	// Renewal asks again with the secret, as az does.
	f.expire()
	f.mustRun("acr", "list")
	if form := idp.lastForm(); form.Get("grant_type") != "client_credentials" || form.Get("client_secret") != "sp-secret" {
		t.Errorf("renewal: %v", form)
	}
	// A wrong --tenant is the authority's answer.
	_, errOut, code := f.run("", "login", "--service-principal", "-u", "app-1", "-p", "sp-secret", "--tenant", "other")
	if code == 0 || !strings.HasPrefix(errOut, "ERROR: AADSTS90002") {
		t.Errorf("wrong tenant: %q", errOut)
	}
}

func TestLoginErrors(t *testing.T) {
	f := newFakeARM(t)
	newFakeIdP(f)
	tests := []struct{ args, stdin, want string }{
		{"login -u alice -p bad", "", "ERROR: AADSTS50126: Error validating credentials due to invalid username or password."},
		{"login --service-principal -u app-1 -p nope", "", "ERROR: AADSTS7000215: Invalid client secret provided."},
		{"login -p x", "", "ERROR: the following arguments are required: --username/-u"},
		{"login -u alice", "", "ERROR: no password on standard input"},
		{"login -u alice -p -", "\n", "ERROR: no password on standard input"},
		{"logout", "", "ERROR: there is no active session for " + f.srv.URL},
	}
	for _, tt := range tests {
		_, errOut, code := f.run(tt.stdin, argv(tt.args)...)
		if code == 0 || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, tt.want) {
			t.Errorf("moat %s: exit %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
	if s := f.session(); s != nil {
		t.Errorf("a failed login saved a session: %+v", s)
	}
	// A server without the metadata endpoint is not a moat server.
	g := newFakeARM(t)
	_, errOut, code := g.run("", "login", "-u", "alice", "-p", "good-password")
	if code == 0 || !strings.Contains(errOut, "is "+g.srv.URL+" a moat server?") {
		t.Errorf("no metadata: %q", errOut)
	}
}

func TestLoginPasswordFromStdin(t *testing.T) {
	f := newFakeARM(t)
	idp := newFakeIdP(f)
	for _, args := range []string{"login -u alice -p -", "login -u alice"} {
		if _, errOut, code := f.run("good-password\r\n", argv(args+" -o none")...); code != 0 {
			t.Errorf("moat %s: %q", args, errOut)
		}
		if pw := idp.lastForm().Get("password"); pw != "good-password" {
			t.Errorf("moat %s sent password %q", args, pw)
		}
	}
}

// TestSignInHints: a 401 of the management API is one line that says what to run.
func TestSignInHints(t *testing.T) {
	f := newFakeARM(t)
	newFakeIdP(f)
	f.on("GET", "~/providers/Microsoft.ContainerRegistry/registries", 401, armError("AuthenticationFailed", "authentication required"))
	_, errOut, _ := f.run("", "acr", "list")
	if want := "ERROR: not signed in to the moat server at " + f.srv.URL + ": run 'moat login --server " + f.srv.URL + " -u USER -p PASSWORD'"; !strings.HasPrefix(errOut, want) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("not signed in: %q", errOut)
	}
	f.mustRun("login", "-u", "alice", "-p", "good-password", "-o", "none")
	_, errOut, _ = f.run("", "acr", "list")
	if !strings.HasPrefix(errOut, "ERROR: the moat server at "+f.srv.URL+" refused the sign-in of alice (authentication required); run 'moat login' again") {
		t.Errorf("signed in: %q", errOut)
	}
	t.Setenv("MOAT_ACCESS_TOKEN", "bad")
	_, errOut, _ = f.run("", "acr", "list")
	if !strings.Contains(errOut, "refused the token in MOAT_ACCESS_TOKEN (authentication required); unset it and run 'moat login'") {
		t.Errorf("env token: %q", errOut)
	}
}

func TestLogoutAndAccountShow(t *testing.T) {
	f := newFakeARM(t)
	newFakeIdP(f)
	// Not signed in: the tenant comes from the server's metadata.
	out := f.mustRun("account", "show")
	var v object
	if err := json.Unmarshal([]byte(out), &v); err != nil || v["tenantId"] != testTenant || v["user"] != nil || v["environmentName"] != "moat" {
		t.Errorf("account show, signed out: %s", out)
	}
	f.mustRun("login", "-u", "alice", "-p", "good-password", "-o", "none")
	out = f.mustRun("account", "show", "--query", "{user: user, tenantId: tenantId, id: id}")
	if !jsonEqual(json.RawMessage(out), object{"user": object{"name": "alice", "type": "user"}, "tenantId": testTenant, "id": testSub}) {
		t.Errorf("account show: %s", out)
	}
	if out := f.mustRun("account", "list", "--query", "[].user.name", "-o", "tsv"); out != "alice\n" {
		t.Errorf("account list: %q", out)
	}
	// With MOAT_ACCESS_TOKEN, who it is for comes from its claims.
	t.Setenv("MOAT_ACCESS_TOKEN", fakeJWT(map[string]any{"appid": "app-9", "tid": testTenant}))
	if out := f.mustRun("account", "show", "--query", "user.name", "-o", "tsv"); out != "alice\n" {
		t.Errorf("account show prefers the session for the user: %q", out)
	}
	t.Setenv("MOAT_ACCESS_TOKEN", "")
	if _, errOut, code := f.run("", "logout", "--username", "bob"); code == 0 || !strings.Contains(errOut, "alice's, not bob's") {
		t.Errorf("logout --username bob: %q", errOut)
	}
	f.mustRun("logout")
	if f.session() != nil {
		t.Errorf("logout kept the session")
	}
	raw, _ := os.ReadFile(filepath.Join(os.Getenv("MOAT_CONFIG_DIR"), "sessions.json"))
	if strings.Contains(string(raw), "alice") {
		t.Errorf("sessions.json after logout: %s", raw)
	}
}

// TestLoginAsksForTheReportedAudience: the token is for the management
// audience /metadata/endpoints reports (the server's configured public URL),
// not for the URL the CLI was given.
func TestLoginAsksForTheReportedAudience(t *testing.T) {
	f := newFakeARM(t)
	idp := newFakeIdP(f)
	idp.audience = "https://moat.example.com:8443/"
	f.on("GET", "~/providers/Microsoft.ContainerRegistry/registries", 200, list())
	f.mustRun("login", "-u", "alice", "-p", "good-password")
	if got := idp.lastForm().Get("scope"); got != "https://moat.example.com:8443/.default offline_access openid profile" {
		t.Errorf("scope %q", got)
	}
	if s := f.session(); s.Resource != "https://moat.example.com:8443" {
		t.Errorf("session resource %q", s.Resource)
	}
}
