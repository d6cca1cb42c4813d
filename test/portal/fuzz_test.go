package portal_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzPortalRequests: whatever path, form and cookies arrive, the portal
// answers without a server error or panic, and changes nothing without the
// session's anti-forgery token.
func FuzzPortalRequests(f *testing.F) {
	e := start(f)
	f.Add("POST", "/portal/signin", "username=admin&password=x&csrf=abc", "moat_portal_signin=abc")
	f.Add("POST", "/portal/registries", "name=fuzzreg1&sku=Premium", "moat_portal_session=eyJhbGciOiJFUzI1NiJ9.e30.x")
	f.Add("GET", "/portal/registries/default/x%2F..%2F/networking?check-ip=1.2.3.4", "", "")
	f.Add("POST", "/portal/registries/a/b/networking/ip-add", "ip=%zz&csrf=", "moat_portal_session=")
	f.Add("GET", "/portal/static/../../etc/passwd", "", "")
	f.Fuzz(func(t *testing.T, method, path, body, cookie string) {
		if method != "GET" && method != "POST" {
			method = "GET"
		}
		if _, err := url.ParseRequestURI(path); err != nil || !strings.HasPrefix(path, "/portal/") || strings.ContainsAny(path, " \r\n\t#") {
			path = "/portal/" // only requests that reach the server at all
		}
		if strings.ContainsAny(cookie, "\r\n") {
			cookie = ""
		}
		req := httptest.NewRequest(method, "http://127.0.0.1"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", cookie)
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s (cookie %q, body %q): %d %s", method, path, cookie, body, rec.Code, rec.Body)
		}
		if method == "POST" && rec.Code == http.StatusSeeOther && !strings.HasPrefix(path, "/portal/signin") {
			t.Fatalf("%s %s without a session's token was accepted", method, path)
		}
	})
}
