package portal_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// client is a cookie-keeping HTTP client that does not follow redirects.
func client(testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// fetch GETs a page and returns its status, body and first CSRF field.
func fetch(t testing.TB, c *http.Client, u string) (int, string, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	tok := ""
	if m := csrfField.FindSubmatch(b); m != nil {
		tok = string(m[1])
	}
	return resp.StatusCode, string(b), tok
}

func post(t testing.TB, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestPortalCSRFAndSession: every POST needs the token bound to its session
// (403 with a clear message otherwise, and nothing changes); the session
// cookie is HttpOnly, SameSite and scoped to the portal; pages carry no
// script; sign-out ends the session.
func TestPortalCSRFAndSession(t *testing.T) {
	e := start(t)
	c := client(t)
	base := e.base + "/portal/"

	_, _, signinTok := fetch(t, c, base+"signin")
	resp, body := post(t, c, base+"signin", url.Values{"username": {"admin"}, "password": {adminPassword}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "security token") {
		t.Fatalf("sign-in without its token: %d %s", resp.StatusCode, body)
	}
	resp, body = post(t, c, base+"signin", url.Values{"username": {"admin"}, "password": {"wrong-password"}, "csrf": {signinTok}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "password is wrong") {
		t.Fatalf("sign-in with a wrong password: %d %s", resp.StatusCode, body)
	}
	_, _, signinTok = fetch(t, c, base+"signin")
	resp, _ = post(t, c, base+"signin", url.Values{"username": {"admin"}, "password": {adminPassword}, "csrf": {signinTok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "moat_portal_session" && ck.Value != "" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/portal/" || session.MaxAge <= 0 {
		t.Fatalf("session cookie: %+v", session)
	}

	status, page, tok := fetch(t, c, base)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("registry list: %d, token %q", status, tok)
	}
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Fatalf("the registry list carries a script; every page must work without JavaScript")
	}
	create := url.Values{"name": {"csrfreg1"}, "sku": {"Premium"}, "location": {"local"}, "group": {"default"}}
	for what, tokVal := range map[string][]string{"no token": nil, "another token": {"forged-" + tok[:10]}} {
		f := url.Values{}
		for k, v := range create {
			f[k] = v
		}
		if tokVal != nil {
			f["csrf"] = tokVal
		}
		resp, body := post(t, c, base+"registries", f)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "nothing was changed") {
			t.Fatalf("create with %s: %d %s", what, resp.StatusCode, body)
		}
	}
	list := e.api("GET", "/subscriptions/"+e.srv.Subscription()+"/providers/Microsoft.ContainerRegistry/registries", nil)
	if n := len(list["value"].([]any)); n != 0 {
		t.Fatalf("a refused POST created %d registries", n)
	}
	create.Set("csrf", tok)
	if resp, body := post(t, c, base+"registries", create); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create with the session's token: %d %s", resp.StatusCode, body)
	}

	if resp, _ := post(t, c, base+"signout", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	resp, err := c.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/portal/signin") {
		t.Fatalf("after sign-out the registry list answers %d (Location %q), not the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// signInHTTP signs a user in through the portal's form with a plain client.
func signInHTTP(t *testing.T, c *http.Client, base, user, pw string) {
	t.Helper()
	_, _, tok := fetch(t, c, base+"signin")
	resp, body := post(t, c, base+"signin", url.Values{"username": {user}, "password": {pw}, "csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in as %s: %d %s", user, resp.StatusCode, body)
	}
}

// TestPortalRespectsRoles: a Reader sees the Networking page, but a change is
// refused with the management API's own 403 message, and nothing changes.
func TestPortalRespectsRoles(t *testing.T) {
	e := start(t)
	reg := e.registryID("rbacreg1")
	e.api("PUT", reg, map[string]any{"location": "local", "sku": map[string]string{"name": "Premium"}})
	user := e.api("POST", "/graph/v1.0/users", map[string]any{"userPrincipalName": "reader@example.com", "passwordProfile": map[string]string{"password": "reader-pw-123"}})
	e.api("PUT", reg+"/providers/Microsoft.Authorization/roleAssignments/0b7a4c3e-7f0c-4a51-9d1e-3c3a1c0d2e11", map[string]any{"properties": map[string]any{
		"roleDefinitionId": "/subscriptions/" + e.srv.Subscription() + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
		"principalId":      user["id"]}})
	c := client(t)
	base := e.base + "/portal/"
	signInHTTP(t, c, base, "reader@example.com", "reader-pw-123")
	status, page, tok := fetch(t, c, base+"registries/default/rbacreg1/networking")
	if status != http.StatusOK || !strings.Contains(page, "Allow trusted services") {
		t.Fatalf("networking page for a Reader: %d", status)
	}
	resp, body := post(t, c, base+"registries/default/rbacreg1/networking/ip-add", url.Values{"ip": {"203.0.113.0/24"}, "csrf": {tok}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "does not have authorization") {
		t.Fatalf("a Reader's rule change: %d %s", resp.StatusCode, body)
	}
	if rules := dig(e.api("GET", reg, nil), "properties", "networkRuleSet", "ipRules"); rules != nil && len(rules.([]any)) != 0 {
		t.Fatalf("a refused change changed the rules: %v", rules)
	}
}

// TestPortalHostStyle: with a login-server suffix the portal reads a
// registry's repositories at its own login server (host style).
func TestPortalHostStyle(t *testing.T) {
	e := startWith(t, "registry.test")
	e.api("PUT", e.registryID("hostreg1"), map[string]any{"location": "local", "sku": map[string]string{"name": "Premium"}})
	digest := e.push("hostreg1", "hello", "v2")
	c := client(t)
	base := e.base + "/portal/"
	signInHTTP(t, c, base, "admin", adminPassword)
	status, page, _ := fetch(t, c, base+"registries/default/hostreg1/repositories?repo=hello")
	if status != http.StatusOK || !strings.Contains(page, digest) || !strings.Contains(page, "<td>v2</td>") {
		t.Fatalf("repositories in host style: %d %s", status, page)
	}
	status, page, _ = fetch(t, c, base+"registries/default/hostreg1")
	if status != http.StatusOK || !strings.Contains(page, "hostreg1.registry.test") {
		t.Fatalf("overview in host style: %d %s", status, page)
	}
}

// TestPortalSignInLimited: the portal's sign-in goes through the authority's
// limit on failed sign-ins per client address (docs/security.md): after the
// limit, even the right password gets 429 with Retry-After and a message, not
// a session.
func TestPortalSignInLimited(t *testing.T) {
	e := start(t)
	c := client(t)
	base := e.base + "/portal/"
	attempt := func(pw string) (*http.Response, string) {
		_, _, tok := fetch(t, c, base+"signin")
		return post(t, c, base+"signin", url.Values{"username": {"admin"}, "password": {pw}, "csrf": {tok}})
	}
	limited := -1
	for i := range 40 {
		resp, _ := attempt("wrong-password")
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = i
			break
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failed sign-in %d: %d, want 401 until the limit", i, resp.StatusCode)
		}
	}
	if limited < 0 {
		t.Fatal("40 failed sign-ins from one address were all answered 401: no limit")
	}
	resp, body := attempt(adminPassword)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Sign-in failed") {
		t.Fatalf("sign-in with the right password once limited: %d (Retry-After %q)\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "moat_portal_session" && ck.Value != "" {
			t.Fatal("a limited sign-in got a session")
		}
	}
	t.Logf("limited after %d failed sign-ins", limited)
}
