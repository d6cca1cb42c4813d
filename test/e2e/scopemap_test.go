package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/test/harness"
)

// TestRepositoryTokens: a registry token (moat acr token, ACR's
// repository-scoped tokens) used by crane as plain Basic credentials gets
// exactly its scope map's actions: push and pull in the repositories it
// names (a prefix/* wildcard included), 403 DENIED elsewhere in its
// registry and for deletes without content/delete, and 401 in another
// registry (which has no token of that name). Disabling it, regenerating or deleting a password, or letting a
// password expire stops it at once, access and refresh tokens already
// issued included; and the registry's network rules apply to it as to anyone.
//
// It runs on a server of its own: its refused sign-ins (16) count against
// the per-address limit (20 in 5 minutes), which the shared server's other
// tests need too.
func TestRepositoryTokens(t *testing.T) {
	shared := moatServer(t)
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(shared.bin, fmt.Sprintf("127.0.0.1:%d", port), t.TempDir(), newPassword())
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	s.failureLog(t)
	admin := newClient(t, "crane")
	admin.srv = s
	reg := s.createRegistry(t, "tokreg")
	other := s.createRegistry(t, "tokother")
	admin.runStdin(t, []byte(s.password), "auth", "login", s.addr, "-u", "admin", "--password-stdin")

	img := newTestImage(t, "amd64")
	layout := imageLayout(t, img, "v1")
	for _, ref := range []string{s.ref(reg, "secret/app", ":v1"), s.ref(reg, "samples/one", ":v1"), s.ref(other, "hello", ":v1")} {
		admin.run(t, "push", "--insecure", layout, ref)
	}

	moat := s.mustMoat
	moatJSON := func(t *testing.T, v any, args ...string) {
		t.Helper()
		out := moat(t, append(args, "-o", "json")...)
		// token create also tells on stderr how to log in: keep the JSON only.
		if i := strings.IndexAny(out, "{["); i >= 0 {
			out = out[i:]
		}
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("moat %s: not JSON (%v):\n%s", strings.Join(args, " "), err, out)
		}
	}

	var sm struct {
		Properties struct{ Actions []string } `json:"properties"`
	}
	moatJSON(t, &sm, "acr", "scope-map", "create", "-r", reg, "-n", "hello-push",
		"--repository", "hello", "content/read", "content/write", "--repository", "samples/*", "content/read")
	expectEqual(t, "scope map actions", strings.Join(sm.Properties.Actions, " "),
		"repositories/hello/content/read repositories/hello/content/write repositories/samples/*/content/read")

	type password struct{ Name, Value string }
	var tok struct {
		Name       string
		Properties struct {
			Status      string
			Credentials struct{ Passwords []password }
		}
	}
	moatJSON(t, &tok, "acr", "token", "create", "-r", reg, "-n", "ci-token", "--scope-map", "hello-push")
	if tok.Properties.Status != "enabled" || len(tok.Properties.Credentials.Passwords) != 2 || tok.Properties.Credentials.Passwords[0].Value == "" {
		t.Fatalf("token create: %+v", tok)
	}
	pw1, pw2 := tok.Properties.Credentials.Passwords[0].Value, tok.Properties.Credentials.Passwords[1].Value

	c := newClient(t, "crane") // a HOME of its own: the token's credentials only
	c.srv = s
	login := func(t *testing.T, pw string) {
		t.Helper()
		c.runStdin(t, []byte(pw), "auth", "login", s.addr, "-u", "ci-token", "--password-stdin")
	}
	crane := func(t *testing.T, args ...string) string { t.Helper(); return c.run(t, append(args, "--insecure")...) }
	denied := func(t *testing.T, why string, args ...string) {
		t.Helper()
		expectDenied(t, c, why, c.exitFail(t, why, append(args, "--insecure")...))
	}
	hello := s.ref(reg, "hello", "")

	step(t, "allowed repositories", func(t *testing.T) {
		login(t, pw1)
		out := crane(t, "push", layout, hello+":v1")
		expectEqual(t, "crane push output", strings.TrimSpace(out), hello+"@"+img.manifest.digest)
		expectEqual(t, "crane digest", strings.TrimSpace(crane(t, "digest", hello+":v1")), img.manifest.digest)
		expectBytes(t, "crane manifest of samples/one (samples/*)", []byte(crane(t, "manifest", s.ref(reg, "samples/one", ":v1"))), img.manifest.data)
	})
	step(t, "everything else refused", func(t *testing.T) {
		denied(t, "pull from a repository the scope map does not name", "digest", s.ref(reg, "secret/app", ":v1"))
		denied(t, "push to a repository the scope map does not name", "push", layout, s.ref(reg, "secret/app", ":v2"))
		denied(t, "push under samples/* (read only)", "push", layout, s.ref(reg, "samples/two", ":v1"))
		denied(t, "delete without content/delete", "delete", hello+"@"+img.manifest.digest)
		if out := c.exitFail(t, "a token lists no catalog", "catalog", "--insecure", s.addr); !authRefusal(out) {
			t.Fatalf("crane catalog with a token: want 401/403:\n%s", printable(out))
		}
		// Another registry has no token of that name: the sign-in fails.
		c.failUnauthorized(t, "digest", "--insecure", s.ref(other, "hello", ":v1"))
		expectEqual(t, "the manifest is still there", strings.TrimSpace(admin.run(t, "digest", "--insecure", hello+":v1")), img.manifest.digest)
	})

	// Tokens issued before a change: an access token and docker login's
	// offline refresh token, fetched as the docker client would.
	basic := func(pw string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("ci-token:"+pw))}
	}
	scope := "repository:" + reg + "/hello:pull"
	issued := func(t *testing.T, pw string) tokenAnswer {
		t.Helper()
		r, a := s.offlineTokenRequest(t, s.addr, basic(pw), scope)
		expectStatus(t, r, http.StatusOK)
		if got := grantedAccess(t, a.AccessToken); strings.Join(got, " ") != "repository:"+reg+"/hello:pull" {
			t.Fatalf("granted %v, want %s/hello:pull", got, reg)
		}
		return a
	}
	works := func(t *testing.T, a tokenAnswer, want int) {
		t.Helper()
		expectStatus(t, doHTTP(t, "GET", s.url+"/v2/"+reg+"/hello/manifests/v1", nil, with(bearer(a.AccessToken), "Accept", "application/vnd.oci.image.manifest.v1+json")), want)
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.RefreshToken}, "service": {s.addr}, "scope": {scope}}
		expectStatus(t, doHTTP(t, "POST", s.url+"/oauth2/token", []byte(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}), want)
	}

	step(t, "disabled token", func(t *testing.T) {
		a := issued(t, pw1)
		works(t, a, http.StatusOK)
		moat(t, "acr", "token", "update", "-r", reg, "-n", "ci-token", "--status", "disabled")
		works(t, a, http.StatusUnauthorized)
		r, _ := s.tokenRequest(t, s.addr, basic(pw1), scope)
		expectStatus(t, r, http.StatusUnauthorized)
		if !strings.Contains(string(r.body), "disabled") {
			t.Errorf("sign-in of a disabled token: %s", r.desc)
		}
		c.failUnauthorized(t, "digest", "--insecure", hello+":v1")
		moat(t, "acr", "token", "update", "-r", reg, "-n", "ci-token", "--status", "enabled")
		works(t, issued(t, pw1), http.StatusOK)
	})
	step(t, "regenerated and deleted passwords", func(t *testing.T) {
		a1, a2 := issued(t, pw1), issued(t, pw2)
		var creds struct {
			Username  string
			Passwords []password
		}
		moatJSON(t, &creds, "acr", "token", "credential", "generate", "-r", reg, "-n", "ci-token", "--password1")
		if creds.Username != "ci-token" || len(creds.Passwords) != 1 || creds.Passwords[0].Name != "password1" {
			t.Fatalf("credential generate: %+v", creds)
		}
		works(t, a1, http.StatusUnauthorized) // issued from the old password1
		works(t, a2, http.StatusOK)           // password2 is untouched
		c.failUnauthorized(t, "digest", "--insecure", hello+":v1")
		pw1 = creds.Passwords[0].Value
		login(t, pw1)
		expectEqual(t, "crane digest with the new password1", strings.TrimSpace(crane(t, "digest", hello+":v1")), img.manifest.digest)

		moat(t, "acr", "token", "credential", "delete", "-r", reg, "-n", "ci-token", "--password2")
		works(t, a2, http.StatusUnauthorized)
		r, _ := s.tokenRequest(t, s.addr, basic(pw2), scope)
		expectStatus(t, r, http.StatusUnauthorized)
	})
	step(t, "expired password", func(t *testing.T) {
		at := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339)
		var creds struct{ Passwords []password }
		moatJSON(t, &creds, "acr", "token", "credential", "generate", "-r", reg, "-n", "ci-token", "--password2", "--expiration", at)
		a := issued(t, creds.Passwords[0].Value)
		if a.ExpiresIn > 4 {
			t.Errorf("an access token outlives its password: expires_in %d", a.ExpiresIn)
		}
		works(t, a, http.StatusOK)
		time.Sleep(4 * time.Second)
		works(t, a, http.StatusUnauthorized)
		r, _ := s.tokenRequest(t, s.addr, basic(creds.Passwords[0].Value), scope)
		expectStatus(t, r, http.StatusUnauthorized)
		if !strings.Contains(string(r.body), "expired") {
			t.Errorf("sign-in with an expired password: %s", r.desc)
		}
	})
	step(t, "network rules apply to token users", func(t *testing.T) {
		moat(t, "acr", "update", "--name", reg, "--public-network-enabled", "false", "-o", "none")
		out := c.exitFail(t, "public access is off", "digest", "--insecure", hello+":v1")
		if !strings.Contains(out, "DENIED") || !strings.Contains(out, "not allowed access") {
			t.Fatalf("want the network gate's 403 DENIED (client ... is not allowed access):\n%s", printable(out))
		}
		moat(t, "acr", "update", "--name", reg, "--public-network-enabled", "true", "-o", "none")
		expectEqual(t, "crane digest with public access on again", strings.TrimSpace(crane(t, "digest", hello+":v1")), img.manifest.digest)
	})
	step(t, "deleted token", func(t *testing.T) {
		a := issued(t, pw1)
		moat(t, "acr", "token", "delete", "-r", reg, "-n", "ci-token", "--yes")
		works(t, a, http.StatusUnauthorized)
		c.failUnauthorized(t, "digest", "--insecure", hello+":v1")
	})
}
