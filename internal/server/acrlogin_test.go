package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestExchangeTokenLivesThreeHours: the refresh token that `moat acr login`
// gets from /oauth2/exchange keeps ACR's 3-hour life: it works at 2h59m,
// the access tokens it yields never outlive it, and it ends at 3h; a
// password change ends it at once.
func TestExchangeTokenLivesThreeHours(t *testing.T) {
	d := startDockerLogin(t)
	exchange := func() string {
		idTok := identityToken(t, d.base, d.srv.Tenant(), url.Values{"grant_type": {"password"}, "username": {"dockeruser"},
			"password": {dockerUserPW}, "client_id": {"moat-test"}})
		form := url.Values{"grant_type": {"access_token"}, "service": {d.cfg.Listeners[0].Address}, "access_token": {idTok}}
		resp, err := http.PostForm(d.base+"/oauth2/exchange", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.RefreshToken == "" {
			t.Fatalf("exchange: %s %v", resp.Status, err)
		}
		return out.RefreshToken
	}
	dk := newDockerEngine(d.opsEnv)
	dk.identityToken = exchange()
	d.clock.advance(2*time.Hour + 59*time.Minute)
	tok := dk.token("repository:dockreg/app:pull")
	if tok.status != http.StatusOK || dk.pull(tok.AccessToken, "dockreg/app") != http.StatusOK {
		t.Fatalf("at 2h59m: %d", tok.status)
	}
	if tok.ExpiresIn > 60 {
		t.Fatalf("an access token issued a minute before its refresh token ends lives %d s", tok.ExpiresIn)
	}
	d.clock.advance(2 * time.Minute)
	if got := dk.token("repository:dockreg/app:pull"); got.status != http.StatusUnauthorized {
		t.Fatalf("at 3h01m: %d, want 401", got.status)
	}
	if st := dk.pull(tok.AccessToken, "dockreg/app"); st != http.StatusUnauthorized {
		t.Fatalf("its last access token at 3h01m: %d, want 401", st)
	}

	dk.identityToken = exchange()
	d.mgmtTok = loginToken(t, d.base, d.srv.Tenant(), opsPassword)
	if st, raw := d.mgmt(http.MethodPatch, d.base+"/graph/v1.0/users/"+d.userID, `{"passwordProfile":{"password":"docker-user-password-3"}}`); st != http.StatusNoContent {
		t.Fatalf("change password: %d %s", st, raw)
	}
	if got := dk.token("repository:dockreg/app:pull"); got.status != http.StatusUnauthorized {
		t.Fatalf("after the password changed: %d, want 401", got.status)
	}
}
