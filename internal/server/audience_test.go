package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAudienceIsNotTheHostHeader: the management API and /oauth2/exchange
// accept identity tokens for the server's configured public URL and the
// cloud's ARM audiences only. A token the authority minted for another
// application (https://payroll.example.com) is refused even when the
// request's Host header names that application.
func TestAudienceIsNotTheHostHeader(t *testing.T) {
	e := startOps(t, opsConfig(t, t.TempDir()))
	tokenFor := func(resource string) string {
		form := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {opsPassword}, "client_id": {"moat-test"},
			"scope": {resource + "/.default"}}
		resp, err := http.PostForm(e.base+"/identity/"+e.srv.Tenant()+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
			t.Fatalf("token for %s: %s %v", resource, resp.Status, err)
		}
		return out.AccessToken
	}
	call := func(method, path, host, tok string, form url.Values) int {
		var req *http.Request
		if form != nil {
			req, _ = http.NewRequest(method, e.base+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req, _ = http.NewRequest(method, e.base+path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	mgmt := func(host, tok string) int {
		return call(http.MethodGet, "/subscriptions?api-version=2025-11-01", host, tok, nil)
	}
	exchange := func(host, tok string) int {
		return call(http.MethodPost, "/oauth2/exchange", host, "", url.Values{"grant_type": {"access_token"}, "service": {host}, "access_token": {tok}})
	}
	payroll := tokenFor("https://payroll.example.com")
	if st := mgmt("payroll.example.com", payroll); st != http.StatusUnauthorized {
		t.Errorf("management API, payroll's token with Host payroll.example.com: %d, want 401", st)
	}
	if st := exchange("payroll.example.com", payroll); st != http.StatusUnauthorized {
		t.Errorf("/oauth2/exchange, payroll's token with Host payroll.example.com: %d, want 401", st)
	}
	host := e.cfg.Listeners[0].Address
	for _, aud := range []string{e.cfg.PublicURLOrDefault(), "https://management.azure.com", "https://management.core.windows.net/"} {
		tok := tokenFor(aud)
		for _, h := range []string{host, "other.example.com"} {
			if st := mgmt(h, tok); st != http.StatusOK {
				t.Errorf("management API, token for %s, Host %s: %d, want 200", aud, h, st)
			}
			if st := exchange(h, tok); st != http.StatusOK {
				t.Errorf("/oauth2/exchange, token for %s, Host %s: %d, want 200", aud, h, st)
			}
		}
	}
}
