package docker

import (
	"encoding/base64"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"
)

// shortLifetime is how long access tokens and the refresh tokens of `moat
// acr login` live on the servers with short-lived tokens (by default 1 hour
// and 3 hours).
const shortLifetime = 2 * time.Second

// expiryLeeway is how long past its expiry moat still accepts a token
// (clock skew between nodes; internal/auth/token's Verify).
const expiryLeeway = 30 * time.Second

// jwtClaims reads the claims of a JWT (not verified: the test only looks).
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.40q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err == nil {
		err = json.Unmarshal(raw, &claims)
	}
	if err != nil {
		t.Fatalf("the JWT's claims: %v", err)
	}
	return claims
}

// expiry is the exp claim of tok (zero when it has none).
func expiry(t *testing.T, tok string) time.Time {
	t.Helper()
	exp, ok := jwtClaims(t, tok)["exp"].(float64)
	if !ok {
		return time.Time{}
	}
	return time.Unix(int64(exp), 0)
}

// credentialLogin is a docker login and how to change the credential
// behind it (returning the new password).
type credentialLogin struct {
	who    string
	u      *user
	change func() string
}

// loginOutlivesTokens: `docker login` with a user's password, a service
// principal's secret and the admin user's password keeps working after
// every token moat issued has expired, and stops right after that password
// or secret changes; a new login with the new one works. The credential of
// `moat acr login` keeps its fixed lifetime (ACR's 3 hours, here
// shortLifetime).
func loginOutlivesTokens(t *testing.T, s *moatServer, reg string) {
	e := s.e
	host, ref := s.dockerHost(reg), s.ref(reg, "lifetime", ":v1")
	logins := s.credentialLogins(t, reg)
	for _, l := range logins {
		e.dockerLogin(t, l.u, host)
		if exp := expiry(t, expectIdentityToken(t, l.u, host, l.u.name)); !exp.IsZero() && time.Until(exp) < time.Hour {
			t.Fatalf("the identity token of the docker login of the %s expires at %s: it must last as long as the password", l.who, exp)
		}
	}
	acr := s.newDirectoryUser(t, "AcrPull", reg)
	s.signIn(t, acr)
	e.mustMoat(t, acr, nil, "acr", "login", "--name", reg)
	acrExpiry := expiry(t, expectIdentityToken(t, acr, host, zeroUser))
	if acrExpiry.IsZero() || time.Until(acrExpiry) > shortLifetime+time.Minute {
		t.Fatalf("moat acr login's identity token expires at %v, want within %s", acrExpiry, shortLifetime)
	}
	img := e.load(t, logins[0].u, ref, runtime.GOARCH)
	digest := e.push(t, logins[0].u, ref)
	e.remove(t, logins[0].u, ref)

	// Every token issued so far has expired after this, leeway included.
	wait := max(time.Until(acrExpiry), shortLifetime) + expiryLeeway + time.Second
	t.Logf("waiting %s for every token issued so far to expire", wait.Round(time.Second))
	time.Sleep(wait)
	for _, l := range logins {
		e.pull(t, l.u, ref, digest, img.ID)
		e.remove(t, l.u, ref)
	}
	e.mustFailDocker(t, acr, nil, "moat acr login's credential expired", []string{"unauthorized"}, "pull", ref)

	for _, l := range logins {
		l.u.password = l.change()
		e.mustFailDocker(t, l.u, nil, "the "+l.who+"'s password changed", []string{"unauthorized"}, "pull", ref)
		e.dockerLogin(t, l.u, host)
		e.pull(t, l.u, ref, digest, img.ID)
		e.remove(t, l.u, ref)
	}
}

// credentialLogins are a user, a service principal and the admin user of
// reg, each with a way to change its password.
func (s *moatServer) credentialLogins(t *testing.T, reg string) []*credentialLogin {
	t.Helper()
	u, sp, admin := s.newDirectoryUser(t, "AcrPush", reg), s.newServicePrincipal(t, "AcrPush", reg), s.adminUser(t, reg)
	return []*credentialLogin{
		{who: "user", u: u, change: func() string {
			pw := "pw-" + randomHex(24)
			s.cli(t, "ad", "user", "update", "--id", u.name, "--password", pw, "-o", "none")
			return pw
		}},
		{who: "service principal", u: sp, change: func() string {
			var out struct {
				Password string `json:"password"`
			}
			if raw := s.cli(t, "ad", "sp", "credential", "reset", "--id", sp.name); json.Unmarshal([]byte(raw), &out) != nil || out.Password == "" {
				t.Fatalf("moat ad sp credential reset --id %s printed no password:\n%s", sp.name, raw)
			}
			return out.Password
		}},
		{who: "admin user", u: admin, change: func() string {
			// adminUser logs in with the first password, "password".
			s.cli(t, "acr", "credential", "renew", "--name", reg, "--password-name", "password", "-o", "none")
			return s.adminUser(t, reg).password
		}},
	}
}
