package authority

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/auth/identity"
)

// TestRefreshNeverOutlivesSession: renewing with refresh tokens, day after
// day, never yields a token that lives past the sign-in's absolute end
// (auth_time + SessionLifetime), and after it the chain is refused.
func TestRefreshNeverOutlivesSession(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	e.keys.SetClock(func() time.Time { return now })
	start := now
	end := start.Add(SessionLifetime)
	tokenPath := "/identity/" + e.tenant + "/oauth2/v2.0/token"
	st, body := e.do(t, "POST", tokenPath, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW},
		"client_id": {publicClient}, "scope": {mgmtScope + " offline_access openid"}}, nil)
	if st != 200 {
		t.Fatalf("sign in: %d %v", st, body)
	}
	rt := body["refresh_token"].(string)
	for now.Add(20 * time.Hour).Before(end.Add(-time.Hour)) {
		now = now.Add(20 * time.Hour)
		st, body = e.do(t, "POST", tokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
			"client_id": {publicClient}, "scope": {mgmtScope + " offline_access openid"}}, nil)
		if st != 200 {
			t.Fatalf("refresh at %v: %d %v", now.Sub(start), st, body)
		}
		rt = body["refresh_token"].(string)
	}
	now = end.Add(-10 * time.Minute)
	st, body = e.do(t, "POST", tokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {publicClient}, "scope": {mgmtScope + " offline_access openid"}}, nil)
	if st != 200 {
		t.Fatalf("refresh 10 minutes before the end: %d %v", st, body)
	}
	for _, kind := range []string{"access_token", "refresh_token", "id_token"} {
		exp := time.Unix(int64(jwtPayload(t, body[kind].(string))["exp"].(float64)), 0)
		if exp.After(end) {
			t.Errorf("%s issued 10 minutes before the session ends expires %v after it", kind, exp.Sub(end))
		}
	}
	if exp := body["expires_in"].(float64); exp > 600 {
		t.Errorf("expires_in %v, want at most 600 s", exp)
	}
	now = end.Add(time.Minute)
	if st, body = e.do(t, "POST", tokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)},
		"client_id": {publicClient}, "scope": {mgmtScope}}, nil); st != 400 {
		t.Fatalf("refresh after the session's end: %d %v", st, body)
	}
}

// TestDisabledUser: a disabled user cannot sign in (a clear message, after
// the right password only) and its refresh tokens stop working.
func TestDisabledUser(t *testing.T) {
	e := newEnv(t)
	tokenPath := "/identity/" + e.tenant + "/oauth2/v2.0/token"
	signIn := func(pw string) (int, map[string]any) {
		return e.do(t, "POST", tokenPath, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw},
			"client_id": {publicClient}, "scope": {mgmtScope + " offline_access"}}, nil)
	}
	st, body := signIn(alicePW)
	if st != 200 {
		t.Fatalf("sign in: %d %v", st, body)
	}
	rt := body["refresh_token"].(string)
	p := identity.Copy(e.alice)
	p.Disabled = true
	if err := e.dir.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if st, body := signIn(alicePW); st != 400 || body["error_codes"].([]any)[0].(float64) != codeUserDisabled {
		t.Fatalf("disabled user signs in: %d %v", st, body)
	}
	if st, body := signIn("wrong"); st != 400 || body["error_codes"].([]any)[0].(float64) != codeBadCredentials {
		t.Fatalf("wrong password of a disabled user: %d %v (must not reveal that it is disabled)", st, body)
	}
	if st, body := e.do(t, "POST", tokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {publicClient}, "scope": {mgmtScope}}, nil); st != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("refresh token of a disabled user: %d %v", st, body)
	}
}

// jwtPayload decodes a JWT's claims without checking it.
func jwtPayload(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("JWT payload %q: %v", parts[1], err)
	}
	return m
}
