package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/rbac"
)

// dockerEngine replays, request for request, what the Docker engine sends to
// a registry's token service (moby daemon/pkg/registry/auth.go loginV2, with
// distribution's token handler: OfflineAccess true, ClientID "docker"):
//
//   - docker login: GET /v2/ (401 challenge), then GET <realm>?account=USER&
//     client_id=docker&offline_token=true&service=SVC with Basic USER:PASSWORD.
//     When the answer has a refresh_token, the CLI stores it as the
//     credential's identitytoken and forgets the password.
//   - every later pull or push: POST <realm> with client_id=docker,
//     grant_type=refresh_token, refresh_token, scope and service (the engine
//     does not store a refresh token it gets back).
type dockerEngine struct {
	e              *opsEnv
	realm, service string
	identityToken  string
}

func newDockerEngine(e *opsEnv) *dockerEngine {
	e.t.Helper()
	resp := e.do(http.MethodGet, "/v2/", "", nil, nil)
	resp.Body.Close()
	d := &dockerEngine{e: e}
	for _, kv := range strings.Split(strings.TrimPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer "), ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "realm":
			d.realm = strings.Trim(v, `"`)
		case "service":
			d.service = strings.Trim(v, `"`)
		}
	}
	if resp.StatusCode != http.StatusUnauthorized || d.realm == "" {
		e.t.Fatalf("GET /v2/: %s %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
	return d
}

// tokenAnswer is the token endpoint's JSON answer.
type tokenAnswer struct {
	status       int
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

func (d *dockerEngine) send(req *http.Request) tokenAnswer {
	d.e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := tokenAnswer{status: resp.StatusCode}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &a); err != nil {
			d.e.t.Fatalf("token answer %s: %v", body, err)
		}
	}
	return a
}

// login is `docker login -u user -p password`: it keeps the identity token
// when the answer has one.
func (d *dockerEngine) login(user, password string) tokenAnswer {
	q := url.Values{"account": {user}, "client_id": {"docker"}, "offline_token": {"true"}, "service": {d.service}}
	req, _ := http.NewRequest(http.MethodGet, d.realm+"?"+q.Encode(), nil)
	req.SetBasicAuth(user, password)
	a := d.send(req)
	d.identityToken = a.RefreshToken
	return a
}

// token is what the engine does before a pull or push after the login: the
// refresh-token grant with the stored identity token.
func (d *dockerEngine) token(scope string) tokenAnswer {
	form := url.Values{"client_id": {"docker"}, "grant_type": {"refresh_token"}, "refresh_token": {d.identityToken},
		"scope": {scope}, "service": {d.service}}
	req, _ := http.NewRequest(http.MethodPost, d.realm, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return d.send(req)
}

// pull reads the tag list of repo with an access token: 200 when the token
// is good, 401 when it is not.
func (d *dockerEngine) pull(access, repo string) int {
	resp := d.e.do(http.MethodGet, "/v2/"+repo+"/tags/list", access, nil, nil)
	resp.Body.Close()
	return resp.StatusCode
}

// dockerLoginEnv is a server (with a test clock) holding a registry with an
// image, a user and a service principal with AcrPull on it, and its admin
// user enabled.
type dockerLoginEnv struct {
	*opsEnv
	clock                         *testClock
	userID, spID, spApp, spSecret string
	adminPW                       string
}

const dockerUserPW = "docker-user-password-1"

func startDockerLogin(t *testing.T) *dockerLoginEnv {
	clock := &testClock{now: time.Now()}
	e := startOps(t, opsConfig(t, t.TempDir()))
	e.srv.keys.SetClock(clock.Now)
	d := &dockerLoginEnv{opsEnv: e, clock: clock}
	if st, body := e.mgmt(http.MethodPut, e.regPath("dockreg"), `{"location":"local","sku":{"name":"Standard"},"properties":{"adminUserEnabled":true}}`); st >= 300 {
		t.Fatalf("create registry: %d %s", st, body)
	}
	tok, _ := e.regToken("admin", opsPassword, "repository:dockreg/app:push,pull")
	e.pushImage(tok, "dockreg/app", "v1")
	d.userID = d.createPrincipal("/graph/v1.0/users", `{"userPrincipalName":"dockeruser","passwordProfile":{"password":"`+dockerUserPW+`"}}`, nil)
	var sp struct{ AppID, Password string }
	d.spID = d.createPrincipal("/graph/v1.0/servicePrincipals", `{"displayName":"docker-ci"}`, &sp)
	d.spApp, d.spSecret = sp.AppID, sp.Password
	for _, id := range []string{d.userID, d.spID} {
		d.assign(id, "AcrPull")
	}
	st, body := e.mgmt(http.MethodPost, e.regPath("dockreg")+"/listCredentials", "")
	var creds struct {
		Passwords []struct{ Name, Value string }
	}
	if st != http.StatusOK || json.Unmarshal(body, &creds) != nil || len(creds.Passwords) != 2 {
		t.Fatalf("listCredentials: %d %s", st, body)
	}
	d.adminPW = creds.Passwords[0].Value
	return d
}

func (d *dockerLoginEnv) createPrincipal(path, body string, out any) string {
	d.t.Helper()
	st, raw := d.mgmt(http.MethodPost, d.base+path, body)
	var p struct{ ID string }
	if st != http.StatusCreated || json.Unmarshal(raw, &p) != nil || p.ID == "" {
		d.t.Fatalf("POST %s: %d %s", path, st, raw)
	}
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	return p.ID
}

func (d *dockerLoginEnv) assign(principal, role string) {
	d.t.Helper()
	r, _ := rbac.RoleByName(role)
	body := fmt.Sprintf(`{"properties":{"roleDefinitionId":%q,"principalId":%q}}`, rbac.RoleDefinitionID(d.srv.Subscription(), r), principal)
	if st, raw := d.mgmt(http.MethodPut, d.regPath("dockreg")+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString(), body); st != http.StatusCreated {
		d.t.Fatalf("assign %s: %d %s", role, st, raw)
	}
}

// advance moves the clock, rotates the signing key (as the server does
// every 30 days) and signs the administrator in again (its management token
// has a lifetime too).
func (d *dockerLoginEnv) advance(by time.Duration) {
	d.clock.advance(by)
	if err := d.srv.keys.Rotate(context.Background()); err != nil {
		d.t.Fatal(err)
	}
	d.mgmtTok = loginToken(d.t, d.base, d.srv.Tenant(), opsPassword)
}

// testClock is a clock that tests move forward.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestDockerLoginLastsAsLongAsTheCredential replays docker login and later
// pulls for a user, a service principal and the registry's admin user: the
// identity token that docker keeps works long after the access token's
// lifetime and the 3 hours that refresh tokens used to live (a CI runner
// logs in once), and stops at once — with the access token it gave — when
// the credential changes.
func TestDockerLoginLastsAsLongAsTheCredential(t *testing.T) {
	d := startDockerLogin(t)
	cases := []struct {
		name, user string
		password   func() string
		change     func()
	}{
		{"user password changed", "dockeruser", func() string { return dockerUserPW }, func() {
			if st, raw := d.mgmt(http.MethodPatch, d.base+"/graph/v1.0/users/"+d.userID, `{"passwordProfile":{"password":"docker-user-password-2"}}`); st != http.StatusNoContent {
				t.Fatalf("change password: %d %s", st, raw)
			}
		}},
		{"service principal secret reset", d.spApp, func() string { return d.spSecret }, func() {
			d.resetSecret(d.spID)
		}},
		{"admin password regenerated", "dockreg", func() string { return d.adminPW }, func() {
			if st, raw := d.mgmt(http.MethodPost, d.regPath("dockreg")+"/regenerateCredential", `{"name":"password"}`); st != http.StatusOK {
				t.Fatalf("regenerate: %d %s", st, raw)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dk := newDockerEngine(d.opsEnv)
			login := dk.login(c.user, c.password())
			if login.status != http.StatusOK || login.RefreshToken == "" {
				t.Fatalf("docker login: %d, refresh token %q", login.status, login.RefreshToken)
			}
			first := dk.token("repository:dockreg/app:pull")
			if first.status != http.StatusOK || dk.pull(first.AccessToken, "dockreg/app") != http.StatusOK {
				t.Fatalf("first pull: %d", first.status)
			}
			// A day and then a month later: the access token has expired,
			// the identity token still gets new ones.
			for _, later := range []time.Duration{25 * time.Hour, 30 * 24 * time.Hour} {
				d.advance(later)
				if st := dk.pull(first.AccessToken, "dockreg/app"); st != http.StatusUnauthorized {
					t.Fatalf("expired access token after %v: %d, want 401", later, st)
				}
				again := dk.token("repository:dockreg/app:pull")
				if again.status != http.StatusOK || dk.pull(again.AccessToken, "dockreg/app") != http.StatusOK {
					t.Fatalf("pull %v later: token %d", later, again.status)
				}
				if again.RefreshToken != "" && again.RefreshToken != dk.identityToken {
					t.Fatalf("a refresh grant answered a new refresh token (it must not extend itself)")
				}
				first = again
			}
			c.change()
			if st := dk.pull(first.AccessToken, "dockreg/app"); st != http.StatusUnauthorized {
				t.Fatalf("access token after the credential changed: %d, want 401", st)
			}
			if got := dk.token("repository:dockreg/app:pull"); got.status != http.StatusUnauthorized {
				t.Fatalf("identity token after the credential changed: %d, want 401", got.status)
			}
		})
	}
}

// resetSecret replaces a service principal's secrets with a new one
// (`moat ad sp credential reset`).
func (d *dockerLoginEnv) resetSecret(id string) string {
	d.t.Helper()
	st, raw := d.mgmt(http.MethodPost, d.base+"/graph/v1.0/servicePrincipals/"+id+"/addPassword", `{}`)
	var added struct{ KeyID, SecretText string }
	if st != http.StatusOK || json.Unmarshal(raw, &added) != nil || added.SecretText == "" {
		d.t.Fatalf("addPassword: %d %s", st, raw)
	}
	st, raw = d.mgmt(http.MethodGet, d.base+"/graph/v1.0/servicePrincipals/"+id, "")
	var sp struct {
		PasswordCredentials []struct{ KeyID string }
	}
	if st != http.StatusOK || json.Unmarshal(raw, &sp) != nil {
		d.t.Fatalf("get sp: %d %s", st, raw)
	}
	for _, c := range sp.PasswordCredentials {
		if c.KeyID != added.KeyID {
			if st, raw := d.mgmt(http.MethodPost, d.base+"/graph/v1.0/servicePrincipals/"+id+"/removePassword", `{"keyId":"`+c.KeyID+`"}`); st != http.StatusNoContent {
				d.t.Fatalf("removePassword: %d %s", st, raw)
			}
		}
	}
	return added.SecretText
}

// TestDockerLoginStopsWhenPrincipalGoes: disabling or deleting the
// principal, or disabling the admin user, ends a docker login at once.
func TestDockerLoginStopsWhenPrincipalGoes(t *testing.T) {
	d := startDockerLogin(t)
	cases := []struct {
		name, user, password string
		change               func()
	}{
		{"user disabled", "dockeruser", dockerUserPW, func() {
			if st, raw := d.mgmt(http.MethodPatch, d.base+"/graph/v1.0/users/"+d.userID, `{"accountEnabled":false}`); st != http.StatusNoContent {
				t.Fatalf("disable: %d %s", st, raw)
			}
		}},
		{"service principal deleted", d.spApp, d.spSecret, func() {
			if st, raw := d.mgmt(http.MethodDelete, d.base+"/graph/v1.0/servicePrincipals/"+d.spID, ""); st != http.StatusNoContent {
				t.Fatalf("delete: %d %s", st, raw)
			}
		}},
		{"admin user disabled", "dockreg", d.adminPW, func() {
			if st, raw := d.mgmt(http.MethodPatch, d.regPath("dockreg"), `{"properties":{"adminUserEnabled":false}}`); st != http.StatusOK {
				t.Fatalf("disable admin user: %d %s", st, raw)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dk := newDockerEngine(d.opsEnv)
			if login := dk.login(c.user, c.password); login.status != http.StatusOK || login.RefreshToken == "" {
				t.Fatalf("docker login: %d", login.status)
			}
			tok := dk.token("repository:dockreg/app:pull")
			if tok.status != http.StatusOK || dk.pull(tok.AccessToken, "dockreg/app") != http.StatusOK {
				t.Fatalf("pull: %d", tok.status)
			}
			c.change()
			if st := dk.pull(tok.AccessToken, "dockreg/app"); st != http.StatusUnauthorized {
				t.Fatalf("access token afterwards: %d, want 401", st)
			}
			if got := dk.token("repository:dockreg/app:pull"); got.status != http.StatusUnauthorized {
				t.Fatalf("identity token afterwards: %d, want 401", got.status)
			}
			if got := dk.login(c.user, c.password); got.status != http.StatusUnauthorized {
				t.Fatalf("docker login afterwards: %d, want 401", got.status)
			}
		})
	}
}

// TestRefreshTokenOnlyWhenAskedFor: the Docker token specification hands
// out a refresh token only for offline_token=true (GET) or
// access_type=offline (POST password grant), and a refresh-token grant never
// answers a new one.
func TestRefreshTokenOnlyWhenAskedFor(t *testing.T) {
	d := startDockerLogin(t)
	dk := newDockerEngine(d.opsEnv)
	get := func(q url.Values) tokenAnswer {
		req, _ := http.NewRequest(http.MethodGet, dk.realm+"?"+q.Encode(), nil)
		req.SetBasicAuth("dockeruser", dockerUserPW)
		return dk.send(req)
	}
	if a := get(url.Values{"service": {dk.service}, "scope": {"repository:dockreg/app:pull"}}); a.status != http.StatusOK || a.Token == "" || a.RefreshToken != "" {
		t.Fatalf("GET without offline_token: %d, refresh token %q (want none)", a.status, a.RefreshToken)
	}
	post := func(form url.Values) tokenAnswer {
		req, _ := http.NewRequest(http.MethodPost, dk.realm, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return dk.send(req)
	}
	pw := url.Values{"grant_type": {"password"}, "client_id": {"docker"}, "username": {"dockeruser"}, "password": {dockerUserPW},
		"service": {dk.service}, "scope": {"repository:dockreg/app:pull"}}
	if a := post(pw); a.status != http.StatusOK || a.RefreshToken != "" {
		t.Fatalf("password grant without access_type: %d, refresh token %q (want none)", a.status, a.RefreshToken)
	}
	pw.Set("access_type", "offline")
	a := post(pw)
	if a.status != http.StatusOK || a.RefreshToken == "" || dk.pull(a.AccessToken, "dockreg/app") != http.StatusOK {
		t.Fatalf("password grant with access_type=offline: %d, refresh token %q", a.status, a.RefreshToken)
	}
	dk.identityToken = a.RefreshToken
	if r := dk.token("repository:dockreg/app:pull"); r.status != http.StatusOK || (r.RefreshToken != "" && r.RefreshToken != a.RefreshToken) {
		t.Fatalf("refresh grant: %d, refresh token changed: %v", r.status, r.RefreshToken != a.RefreshToken)
	}
}
