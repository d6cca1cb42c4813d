package authority

import (
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzTokenForm throws arbitrary bodies, content types and Basic headers at
// the token endpoint: it must always answer below 500, with JSON.
func FuzzTokenForm(f *testing.F) {
	e := newEnv(f)
	form := "application/x-www-form-urlencoded"
	for _, s := range []struct{ body, ct, basic string }{
		{"grant_type=client_credentials&client_id=" + e.sp.Name + "&client_secret=" + e.spSecret + "&scope=https%3A%2F%2Fmanagement.moat%2F.default", form, ""},
		{"grant_type=client_credentials&scope=https%3A%2F%2Fm%2F.default", form, e.sp.Name + ":" + e.spSecret},
		{"grant_type=password&username=alice&password=pw&client_id=c&scope=x%2F.default+openid+offline_access&client_info=1", form, ""},
		{"grant_type=password&username=alice&password=pw&client_id=c&client_secret=s&scope=a%2Fb", form, "c:s"},
		{"grant_type=refresh_token&refresh_token=a.b.c&client_id=c&scope=x%2F.default", form, ""},
		{"grant_type=refresh_token&refresh_token=eyJhbGciOiJub25lIn0.e30.&client_id=c&scope=%2F.default", form, ""},
		{"grant_type=client_credentials&grant_type=password", form, ""},
		{"grant_type=%zz&scope=%", form + "; charset=utf-8", ""},
		{"scope=" + strings.Repeat("a/.default ", 50), form, ":"},
		{`{"grant_type":"password"}`, "application/json", ""},
		{"", "", ""},
		{"grant_type=urn:ietf:params:oauth:grant-type:device_code", "application/x-www-form-urlencoded; charset", "%zz:%"},
		{"grant_type=client_credentials&client_id=%00&client_secret=%ff&scope=\x00/.default", form, ""},
	} {
		f.Add(s.body, s.ct, s.basic, false)
		f.Add(s.body, s.ct, s.basic, true)
	}
	f.Fuzz(func(t *testing.T, body, ct, basic string, otherTenant bool) {
		tenant := e.tenant
		if otherTenant {
			tenant = "organizations"
		}
		r := httptest.NewRequest("POST", "/identity/"+tenant+"/oauth2/v2.0/token", strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if basic != "" {
			r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(basic)))
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		var m map[string]any
		if w.Code >= 500 || json.Unmarshal(w.Body.Bytes(), &m) != nil {
			t.Fatalf("%d %q", w.Code, w.Body)
		}
		if w.Code != 200 && (m["error"] == nil || m["error_description"] == nil) {
			t.Fatalf("error without error/error_description: %d %q", w.Code, w.Body)
		}
		if w.Code == 200 && m["access_token"] == nil {
			t.Fatalf("200 without access_token: %q", w.Body)
		}
	})
}

// FuzzMSI does the same for the managed-identity endpoint's query and header.
func FuzzMSI(f *testing.F) {
	e := newEnv(f)
	f.Add("api-version=2019-08-01&resource=https%3A%2F%2Fmanagement.moat", e.instSecret)
	f.Add("api-version=2019-08-01&resource=r&client_id="+e.ua.Name, e.instSecret)
	f.Add("api-version=2019-08-01&resource=r&object_id="+e.other.ID, e.instSecret)
	f.Add("api-version=2019-08-01&resource=r&mi_res_id=%2Fx&client_id=y", e.instSecret)
	f.Add("api-version=2019-08-01&resource=%00", "x")
	f.Add("%zz", "")
	f.Fuzz(func(t *testing.T, query, secret string) {
		r := httptest.NewRequest("GET", "/identity/msi/token", nil)
		r.URL.RawQuery = query
		if secret != "" {
			r.Header["X-Identity-Header"] = []string{secret}
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		var m map[string]any
		if w.Code >= 500 || json.Unmarshal(w.Body.Bytes(), &m) != nil {
			t.Fatalf("%d %q", w.Code, w.Body)
		}
	})
}
