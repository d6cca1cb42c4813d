package target

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func tokenRequest(method, path, query, authz, body string) *http.Request {
	r := httptest.NewRequest(method, "http://127.0.0.1:5000"+path+query, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	return r
}

// TestTokenRequest: one place, and one only, for the credential of a token
// request; anything ambiguous or unreadable is a 400 (docs/identity.md).
func TestTokenRequest(t *testing.T) {
	snap := snapshot(t)
	pw := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"pw"}, "scope": {"repository:alpha/app:pull"}}.Encode()
	rt := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt.x.y"}, "scope": {"repository:alpha/app:pull repository:bravo/x:push"}}.Encode()
	for _, c := range []struct {
		name                       string
		method, path, query, authz string
		body                       string
		grant, user, secret        string
		regs                       string
		bad                        bool
	}{
		{name: "GET anonymous", method: "GET", path: "/oauth2/token", query: "?scope=repository:alpha/app:pull", grant: GrantAnonymous, regs: "alpha"},
		{name: "GET Basic", method: "GET", path: "/oauth2/token", query: "?scope=repository:alpha/app:pull&scope=repository:bravo/app:pull", authz: basic("alice", "pw"), grant: GrantBasic, user: "alice", secret: "pw", regs: "alpha,bravo"},
		{name: "GET refresh token as password", method: "GET", path: "/oauth2/token", authz: basic(ZeroUser, "rt.x.y"), grant: GrantRefresh, user: ZeroUser, secret: "rt.x.y"},
		{name: "GET ignores a body", method: "GET", path: "/oauth2/token", body: pw, grant: GrantAnonymous},
		{name: "GET bearer", method: "GET", path: "/oauth2/token", authz: "Bearer x", grant: GrantAnonymous},
		{name: "GET service names a registry", method: "GET", path: "/oauth2/token", query: "?service=127.0.0.1:5000/Bravo", grant: GrantAnonymous, regs: "bravo"},
		{name: "POST password", method: "POST", path: "/oauth2/token", body: pw, grant: GrantPassword, user: "alice", secret: "pw", regs: "alpha"},
		{name: "POST refresh", method: "POST", path: "/oauth2/token", body: rt, grant: GrantRefresh, user: ZeroUser, secret: "rt.x.y", regs: "alpha,bravo"},
		{name: "POST uses the form, not the query", method: "POST", path: "/oauth2/token", query: "?scope=repository:bravo/app:pull", body: pw, grant: GrantPassword, user: "alice", secret: "pw", regs: "alpha"},
		{name: "POST unused refresh_token is not the credential", method: "POST", path: "/oauth2/token", body: pw + "&refresh_token=rt.x.y", grant: GrantPassword, user: "alice", secret: "pw", regs: "alpha"},
		{name: "POST Basic equal to the form", method: "POST", path: "/oauth2/token", authz: basic("alice", "pw"), body: pw, grant: GrantPassword, user: "alice", secret: "pw", regs: "alpha"},
		{name: "POST other grant", method: "POST", path: "/oauth2/token", body: "grant_type=client_credentials", grant: GrantInvalid},
		{name: "POST not a form", method: "POST", path: "/oauth2/token", grant: GrantInvalid},
		{name: "exchange", method: "POST", path: "/oauth2/exchange", body: "grant_type=access_token&access_token=id.x.y&service=127.0.0.1:5000/alpha", grant: GrantExchange, secret: "id.x.y", regs: "alpha"},
		{name: "exchange with a password grant", method: "POST", path: "/oauth2/exchange", body: pw, grant: GrantInvalid, regs: "alpha"},

		{name: "POST dummy Basic beside form credentials", method: "POST", path: "/oauth2/token", authz: basic("nobody", "x"), body: pw, bad: true},
		{name: "POST Basic without form credentials", method: "POST", path: "/oauth2/token", authz: basic("alice", "pw"), body: "scope=repository:alpha/app:pull", bad: true},
		{name: "POST bearer", method: "POST", path: "/oauth2/token", authz: "Bearer x", body: pw, bad: true},
		{name: "exchange with Basic", method: "POST", path: "/oauth2/exchange", authz: basic("alice", "pw"), body: "grant_type=access_token&access_token=id.x.y", bad: true},
		{name: "POST malformed query", method: "POST", path: "/oauth2/token", query: "?x=%zz", body: pw, bad: true},
		{name: "GET malformed query", method: "GET", path: "/oauth2/token", query: "?scope=repository:alpha/app:pull&x=%zz", authz: basic("alice", "pw"), bad: true},
		{name: "POST malformed form", method: "POST", path: "/oauth2/token", body: pw + "&x=%zz", bad: true},
		{name: "two services", method: "GET", path: "/oauth2/token", query: "?service=a&service=b", bad: true},
		{name: "form too large", method: "POST", path: "/oauth2/token", body: pw + "&pad=" + strings.Repeat("x", MaxTokenForm), bad: true},
	} {
		r := tokenRequest(c.method, c.path, c.query, c.authz, c.body)
		tg := resolve(snap, r)
		if c.bad {
			if tg.Err == nil || tg.Token != nil {
				t.Errorf("%s: accepted (%+v)", c.name, tg.Token)
			} else if tg.Err.Error() == "" {
				t.Errorf("%s: no message", c.name)
			}
			continue
		}
		tr := tg.Token
		if tg.Err != nil || tr == nil || tr.Grant != c.grant || tr.User != c.user || tr.Secret != c.secret || keys(tg.Registries) != c.regs {
			t.Errorf("%s: %v %+v registries %q; want grant %q user %q secret %q registries %q", c.name, tg.Err, tr, keys(tg.Registries), c.grant, c.user, c.secret, c.regs)
		}
	}
}

// TestTokenRequestHostStyle: in host style the Host's registry is one of the
// token request's registries, and scopes name repositories of it.
func TestTokenRequestHostStyle(t *testing.T) {
	r := tokenRequest("GET", "/oauth2/token", "?scope=repository:app:pull&scope=registry:catalog:*", "", "")
	r.Host = "bravo.reg.test:5000"
	tg := resolve(snapshot(t), r)
	if tg.Err != nil || keys(tg.Registries) != "bravo" || tg.Audience != "bravo.reg.test:5000" || len(tg.Token.Access) != 2 {
		t.Fatalf("%v %q %q %+v", tg.Err, keys(tg.Registries), tg.Audience, tg.Token)
	}
}

// FuzzTokenRequest: whatever arrives at the token endpoints, the target is
// either an error or names exactly one credential, taken from exactly one
// place, and the registries the gate checks cover every scope's registry.
func FuzzTokenRequest(f *testing.F) {
	f.Add("GET", "/oauth2/token", "scope=repository:alpha/app:pull", basic("alice", "pw"), "")
	f.Add("POST", "/oauth2/token", "", "", "grant_type=password&username=alice&password=pw&scope=repository:bravo/app:pull")
	f.Add("POST", "/oauth2/token", "x=%zz", basic("nobody", "x"), "grant_type=refresh_token&refresh_token=a.b.c")
	f.Add("POST", "/oauth2/exchange", "", "", "grant_type=access_token&access_token=a.b.c&service=h/alpha")
	f.Add("GET", "/oauth2/token", "service=a&service=a", "Basic !!!", "")
	snap := snapshot(f)
	f.Fuzz(func(t *testing.T, method, path, query, authz, body string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		r, err := http.NewRequest(method, "http://127.0.0.1:5000"+path+"?"+query, strings.NewReader(body))
		if err != nil {
			return
		}
		r.Header.Set("Authorization", authz)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		tg := resolve(snap, r)
		if !tg.Kind.TokenEndpoint() {
			if tg.Token != nil {
				t.Fatalf("%s: a token request outside the token endpoints", path)
			}
			return
		}
		if (tg.Err == nil) == (tg.Token == nil) {
			t.Fatalf("err %v and token %+v", tg.Err, tg.Token)
		}
		if tg.Err != nil {
			return
		}
		tr := tg.Token
		user, pw, isBasic := r.BasicAuth()
		switch tr.Grant {
		case GrantBasic, GrantRefresh, GrantPassword, GrantExchange:
			if method != http.MethodPost && (!isBasic || tr.User != user || tr.Secret != pw) {
				t.Fatalf("GET credential %q/%q is not the Basic header's", tr.User, tr.Secret)
			}
			if method == http.MethodPost && authz != "" && (!isBasic || tr.User != user || tr.Secret != pw) {
				t.Fatalf("POST with Authorization %q and another credential %q/%q", authz, tr.User, tr.Secret)
			}
		case GrantAnonymous, GrantInvalid:
			if tr.User != "" || tr.Secret != "" {
				t.Fatalf("grant %s with a credential", tr.Grant)
			}
		default:
			t.Fatalf("grant %q", tr.Grant)
		}
		for _, a := range tr.Access {
			if reg, _, _ := tg.Split(a.Name); a.Type == "repository" && reg != nil && !slices.Contains(tg.Registries, reg) {
				t.Fatalf("scope %s names %s, which the gate would not check (%q)", FormatScope(a), reg.Key, keys(tg.Registries))
			}
		}
	})
}
