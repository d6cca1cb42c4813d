package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/config"
	dto "github.com/prometheus/client_model/go"
)

// The request's target is decided once (issue 17) and every reader sees the
// same one. These tests are the holes that deciding it several times left
// (issue 15 items 9-11, issue 19 items 2-3).

// lockedRegistry creates registry name with default action Deny and an IP
// rule that no test client matches.
func (e *opsEnv) lockedRegistry(name string) {
	e.t.Helper()
	if st, b := e.mgmt(http.MethodPut, e.regPath(name), `{"sku":{"name":"Premium"},"properties":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"value":"16.17.18.0/24"}]}}}`); st >= 300 {
		e.t.Fatalf("create %s: %d %s", name, st, b)
	}
}

// tokenPost sends a form to POST /oauth2/token (query appended to the URL as
// is) from client address from, with an optional Authorization header.
func (e *opsEnv) tokenPost(from, query, authz string, form url.Values) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth2/token"+query, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", from)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return status(e.t, resp)
}

// TestSignInLimitReadsTheCredentialUsed (issue 15 item 9): the per-name
// limit and the password check read the same credential. Once admin's
// allowance is spent, a POST that adds a dummy Basic header to admin's form
// credentials must not reach the password check (it did: the limiter read
// the header's name, the handler the form's).
func TestSignInLimitReadsTheCredentialUsed(t *testing.T) {
	e := startAbuse(t, func(l *config.Limits) { l.SignInFailures, l.SignInFailuresPerPrincipal = 0, 3 })
	pw := func(p string) url.Values {
		return url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {p}, "service": {e.cfg.Listeners[0].Address}}
	}
	for i := range 3 {
		if st, body := e.tokenPost(fmt.Sprintf("198.51.100.%d", i+1), "", "", pw("wrong")); st != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i, st, body)
		}
	}
	dummy := "Basic " + basicAuth("nobody", "x")
	for i, p := range []string{"wrong", opsPassword} {
		st, body := e.tokenPost("198.51.100.50", "", dummy, pw(p))
		if st == http.StatusOK || st == http.StatusUnauthorized {
			t.Fatalf("attempt %d with a dummy Basic header reached the password check: %d %s", i, st, body)
		}
	}
	// Header and form disagree: a clear 400 that says what to send.
	st, body := e.tokenPost("198.51.100.51", "", "Basic "+basicAuth("someone", "else"), url.Values{"grant_type": {"password"}, "username": {"other"}, "password": {"x"}})
	if st != http.StatusBadRequest || !strings.Contains(body, "credentials") {
		t.Fatalf("disagreeing credentials: %d %s", st, body)
	}
}

func basicAuth(user, pw string) string {
	r := &http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, pw)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// TestTokenGateReadsWhatTheHandlerUses (issue 15 item 10): a malformed query
// string made the gate skip the form the handler then used; the gate must
// fail closed with a 400.
func TestTokenGateReadsWhatTheHandlerUses(t *testing.T) {
	e := startAbuse(t, nil)
	e.lockedRegistry("gatedreg")
	const from = "203.0.113.9"
	form := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {opsPassword}, "scope": {"repository:gatedreg/app:pull"}}
	if st, body := e.tokenPost(from, "", "", form); st != http.StatusForbidden {
		t.Fatalf("well-formed request from a denied address: %d %s", st, body)
	}
	for _, q := range []string{"?x=%zz", "?scope=%zz", "?x=%zz&service=" + e.cfg.Listeners[0].Address} {
		if st, body := e.tokenPost(from, q, "", form); st != http.StatusBadRequest {
			t.Errorf("POST /oauth2/token%s: %d %s, want 400", q, st, body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, e.base+"/oauth2/token?scope=repository:gatedreg/app:pull&x=%zz", nil)
	req.SetBasicAuth("admin", opsPassword)
	req.Header.Set("X-Forwarded-For", from)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if st, body := status(t, resp); st != http.StatusBadRequest {
		t.Errorf("GET with a malformed query: %d %s, want 400", st, body)
	}
}

// TestTokenGateIgnoresUnusedRefreshToken (issue 15 item 10): a trusted
// service's refresh token in the refresh_token field of a password grant is
// not what the handler uses, so it must not open the gate either.
func TestTokenGateIgnoresUnusedRefreshToken(t *testing.T) {
	e := newBypassEnv(t)
	e.admin(http.MethodPatch, e.mgmt+"Microsoft.ContainerRegistry/registries/bypassreg", `{"properties":{"publicNetworkAccess":"Disabled"}}`)
	secret, _ := e.managedIdentity("SystemAssigned", tasksType, "AcrPull")
	refresh := e.serviceRefreshToken(secret)
	form := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {"bypass-password-1"},
		"refresh_token": {refresh}, "scope": {"repository:bypassreg/app:pull"}, "service": {e.host()}}
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if st, body := e.doJSON(req, nil); st != http.StatusForbidden || !strings.Contains(body, "203.0.113.5") {
		t.Fatalf("password grant with a trusted service's refresh token beside it: %d %s, want the network 403", st, body)
	}
	// The refresh grant itself is the service's own credential: it passes.
	form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "scope": {"repository:bypassreg/app:pull"}, "service": {e.host()}}
	req, _ = http.NewRequest(http.MethodPost, e.ts.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if st, body := e.doJSON(req, nil); st != http.StatusOK {
		t.Fatalf("the service's own refresh grant: %d %s", st, body)
	}
}

// serviceRefreshToken runs the managed-identity endpoint and the exchange
// for a service instance and returns its registry refresh token.
func (e *bypassEnv) serviceRefreshToken(secret string) string {
	e.t.Helper()
	resource := strings.TrimSuffix(managementScope(e.t, e.ts.URL), ".default")
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/identity/msi/token?"+url.Values{"api-version": {"2019-08-01"}, "resource": {resource}}.Encode(), nil)
	req.Header.Set("X-IDENTITY-HEADER", secret)
	var mi struct {
		AccessToken string `json:"access_token"`
	}
	if st, body := e.doJSON(req, &mi); st != http.StatusOK {
		e.t.Fatalf("msi: %d %s", st, body)
	}
	form := url.Values{"grant_type": {"access_token"}, "service": {e.host()}, "access_token": {mi.AccessToken}}
	req, _ = http.NewRequest(http.MethodPost, e.ts.URL+"/oauth2/exchange", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var ex struct {
		RefreshToken string `json:"refresh_token"`
	}
	if st, body := e.doJSON(req, &ex); st != http.StatusOK {
		e.t.Fatalf("exchange: %d %s", st, body)
	}
	return ex.RefreshToken
}

// decisions reads moat_network_decisions_total for registry, decision, reason.
func (s *Server) decisions(t *testing.T, registry, decision, reason string) float64 {
	t.Helper()
	fams, err := s.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != "moat_network_decisions_total" {
			continue
		}
		for _, m := range f.Metric {
			if labelIs(m, "registry", registry) && labelIs(m, "decision", decision) && labelIs(m, "reason", reason) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func labelIs(m *dto.Metric, k, v string) bool {
	for _, l := range m.Label {
		if l.GetName() == k {
			return l.GetValue() == v
		}
	}
	return false
}

// rawRequest sends raw bytes (a PROXY header and a request) and returns the
// response's status line and body.
func rawRequest(t *testing.T, addr, raw string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return status(t, resp)
}

// TestNoClientAddressIsCounted (issue 15 item 11): a request without a
// usable client address (a trusted proxy's PROXY header announcing 0.0.0.0)
// is denied and counted as no-network-identity.
func TestNoClientAddressIsCounted(t *testing.T) {
	e := startAbuse(t, nil)
	e.lockedRegistry("countedreg")
	addr := e.cfg.Listeners[0].Address
	st, body := rawRequest(t, addr, "PROXY TCP4 0.0.0.0 127.0.0.1 1234 5000\r\nGET /v2/countedreg/app/tags/list HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n")
	if st != http.StatusForbidden {
		t.Fatalf("no client address: %d %s", st, body)
	}
	if n := e.srv.decisions(t, "countedreg", "deny", "no-network-identity"); n != 1 {
		t.Fatalf("moat_network_decisions_total{reason=no-network-identity} = %v, want 1", n)
	}
}

// TestUnusableForwardedForFailsClosed (issue 15 item 11): a trusted proxy
// whose X-Forwarded-For ends in no usable client address is treated like a
// PROXY header that names none: denied and counted as no-network-identity,
// never served as the proxy's own address.
func TestUnusableForwardedForFailsClosed(t *testing.T) {
	e := startAbuse(t, nil)
	if st, b := e.mgmt(http.MethodPut, e.regPath("fwdreg"), `{"sku":{"name":"Premium"}}`); st >= 300 {
		t.Fatalf("create: %d %s", st, b)
	}
	for i, xff := range []string{"unknown", "0.0.0.0", "fe80::1%eth0", "203.0.113.7, unknown", "203.0.113.7, ::"} {
		resp := e.do(http.MethodGet, "/v2/fwdreg/app/tags/list", "", nil, map[string]string{"X-Forwarded-For": xff})
		st, body := status(t, resp)
		if st != http.StatusForbidden || strings.Contains(body, "127.0.0.1") {
			t.Errorf("X-Forwarded-For %q: %d %s, want a 403 that does not name the proxy", xff, st, body)
		}
		if n := e.srv.decisions(t, "fwdreg", "deny", "no-network-identity"); n != float64(i+1) {
			t.Errorf("X-Forwarded-For %q: %v no-network-identity denials, want %d", xff, n, i+1)
		}
	}
	// An untrusted client left of the garbage is still the client.
	resp := e.do(http.MethodGet, "/v2/fwdreg/app/tags/list", "", nil, map[string]string{"X-Forwarded-For": "unknown, 203.0.113.7"})
	if st, body := status(t, resp); st != http.StatusUnauthorized {
		t.Errorf("garbage left of the client: %d %s", st, body)
	}
}

// TestTrustedServicesListWins (issue 15 item 11): when the operator's
// trustedServices list does not name tasks, a registry's
// networkRuleBypassAllowedForTasks does not let tasks through.
func TestTrustedServicesListWins(t *testing.T) {
	e := newBypassEnvWith(t, func(c *config.Config) { c.TrustedServices = []string{mlType} })
	reg := e.mgmt + "Microsoft.ContainerRegistry/registries/bypassreg"
	e.admin(http.MethodPatch, reg, `{"properties":{"publicNetworkAccess":"Disabled","networkRuleBypassOptions":"None","networkRuleBypassAllowedForTasks":true}}`)
	task, _ := e.managedIdentity("SystemAssigned", tasksType, "AcrPull")
	if st, body := e.pullAs(task, ""); st != http.StatusForbidden || !strings.Contains(body, "not allowed access") {
		t.Fatalf("task identity with tasks not in trustedServices: %d %s, want the network 403", st, body)
	}
}

// TestV2AnswersCarryAPIVersion (issue 19 item 3): every /v2/ answer carries
// Docker-Distribution-API-Version, the network 403 included (without it
// Docker retries over plain HTTP and reports a 400).
func TestV2AnswersCarryAPIVersion(t *testing.T) {
	e := startAbuse(t, func(l *config.Limits) { l.UploadSessions = 1 })
	e.lockedRegistry("lockedreg")
	if st, b := e.mgmt(http.MethodPut, e.regPath("openreg"), `{"sku":{"name":"Premium"}}`); st >= 300 {
		t.Fatalf("create: %d %s", st, b)
	}
	for _, c := range []struct {
		path string
		want int
	}{
		{"/v2/", http.StatusUnauthorized},
		{"/v2/openreg/app/tags/list", http.StatusUnauthorized},
		{"/v2/lockedreg/app/tags/list", http.StatusForbidden},
		{"/v2/lockedreg/", http.StatusForbidden},
		{"/v2/nosuchreg/app/manifests/v1", http.StatusNotFound},
		{"/v2/openreg/app/nothing", http.StatusNotFound},
	} {
		resp := e.do(http.MethodGet, c.path, "", nil, map[string]string{"X-Forwarded-For": "203.0.113.9"})
		resp.Body.Close()
		if resp.StatusCode != c.want || resp.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
			t.Errorf("GET %s: %d, Docker-Distribution-API-Version %q; want %d and registry/2.0", c.path, resp.StatusCode, resp.Header.Get("Docker-Distribution-API-Version"), c.want)
		}
	}
	// 429: the second open upload session of a registry limited to one.
	tok, st := e.regToken("admin", opsPassword, "repository:openreg/app:push")
	if st != http.StatusOK {
		t.Fatalf("token: %d", st)
	}
	for i, want := range []int{http.StatusAccepted, http.StatusTooManyRequests} {
		resp := e.do(http.MethodPost, "/v2/openreg/app/blobs/uploads/", tok, nil, map[string]string{"X-Forwarded-For": "203.0.113.9"})
		resp.Body.Close()
		if resp.StatusCode != want || resp.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
			t.Errorf("upload %d: %d, Docker-Distribution-API-Version %q; want %d and registry/2.0", i, resp.StatusCode, resp.Header.Get("Docker-Distribution-API-Version"), want)
		}
	}
}

// TestHostStyleLoginServerPort (issue 19 item 2): with the public listener
// on a port other than 443, the host-style login server carries it in the
// API, the challenge and the token's service; requests match with or
// without the port.
func TestHostStyleLoginServerPort(t *testing.T) {
	cfg := opsConfig(t, t.TempDir())
	cfg.LoginServerSuffix = "moat.test"
	e := startOps(t, cfg)
	_, port, _ := net.SplitHostPort(cfg.Listeners[0].Address)
	want := "portreg.moat.test:" + port
	st, b := e.mgmt(http.MethodPut, e.regPath("PortReg"), `{"sku":{"name":"Premium"}}`)
	var reg struct {
		Properties struct {
			LoginServer string `json:"loginServer"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &reg); st >= 300 || err != nil || reg.Properties.LoginServer != want {
		t.Fatalf("create: %d %q, want loginServer %s", st, reg.Properties.LoginServer, want)
	}
	for _, host := range []string{want, "portreg.moat.test", "PortReg.Moat.Test:" + port} {
		req, _ := http.NewRequest(http.MethodGet, e.base+"/v2/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(ch, `service="`+want+`"`) {
			t.Errorf("Host %s: %d %q, want a challenge for service %s", host, resp.StatusCode, ch, want)
		}
		// A token got on any spelling of the host is for the login server and
		// opens the registry on any other.
		req, _ = http.NewRequest(http.MethodGet, e.base+"/oauth2/token?scope=repository:app:pull&service="+want, nil)
		req.Host = host
		req.SetBasicAuth("admin", opsPassword)
		var tok struct {
			Token string `json:"token"`
		}
		if st, body := doJSON(t, req, &tok); st != http.StatusOK || audience(t, tok.Token) != want {
			t.Fatalf("token on Host %s: %d %s, audience %q, want %s", host, st, body, audience(t, tok.Token), want)
		}
		req, _ = http.NewRequest(http.MethodGet, e.base+"/v2/app/tags/list", nil)
		req.Host, req.Header["Authorization"] = "portreg.moat.test", []string{"Bearer " + tok.Token}
		if st, body := doJSON(t, req, nil); st != http.StatusNotFound || !strings.Contains(body, "NAME_UNKNOWN") {
			t.Errorf("token of Host %s used without the port: %d %s", host, st, body)
		}
	}
	// What az and moat acr login build a login server from.
	var md struct {
		Suffixes struct {
			ACRLoginServer string `json:"acrLoginServer"`
		} `json:"suffixes"`
	}
	req, _ := http.NewRequest(http.MethodGet, e.base+"/metadata/endpoints?api-version=2022-09-01", nil)
	if st, body := doJSON(t, req, &md); st != http.StatusOK || md.Suffixes.ACRLoginServer != "moat.test:"+port {
		t.Errorf("metadata: %d %s, want acrLoginServer moat.test:%s", st, body, port)
	}
}

func doJSON(t *testing.T, req *http.Request, out any) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	st, body := status(t, resp)
	if out != nil && st == http.StatusOK {
		_ = json.Unmarshal([]byte(body), out)
	}
	return st, body
}

// audience is the aud claim of a JWT (unverified: the test only reads it).
func audience(t *testing.T, jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Aud []string `json:"aud"`
	}
	if json.Unmarshal(raw, &c) != nil || len(c.Aud) != 1 {
		return ""
	}
	return c.Aud[0]
}

// TestIdentitySignInLimitReadsTheClientUsed: the identity endpoint's
// per-name limit keys on the client ID the endpoint authenticates, which
// RFC 6749 form-decodes from the Basic header: percent-encoded spellings of
// one client ID share its allowance (the class of issue 15 item 9).
func TestIdentitySignInLimitReadsTheClientUsed(t *testing.T) {
	e := startAbuse(t, func(l *config.Limits) { l.SignInFailures, l.SignInFailuresPerPrincipal = 0, 3 })
	try := func(id string) (int, string) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {e.base + "/.default"}}
		req, _ := http.NewRequest(http.MethodPost, e.base+"/identity/"+e.srv.Tenant()+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, "guess")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return status(t, resp)
	}
	for i, id := range []string{"%76ictim", "v%69ctim", "vi%63tim"} {
		if st, body := try(id); st != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i, st, body)
		}
	}
	if st, body := try("victim"); st != http.StatusTooManyRequests {
		t.Fatalf("the fourth guess for victim: %d %s, want 429", st, body)
	}
}

// TestLoginServerPortOfPublicURL: behind a load balancer the port clients
// dial is the public URL's, not the node's listener's.
func TestLoginServerPortOfPublicURL(t *testing.T) {
	for _, c := range []struct{ publicURL, suffix, want string }{
		{"https://registry.example.com", "registry.example.com", "reg.registry.example.com"},
		{"https://registry.example.com:8443", "registry.example.com", "reg.registry.example.com:8443"},
		{"", "registry.example.com", "reg.registry.example.com:5000"},
		{"https://registry.example.com", "registry.example.com:6204", "reg.registry.example.com:6204"},
	} {
		t.Setenv("MOAT_ADMIN_PASSWORD", "public-url-password-1")
		cfg := testConfig(t.TempDir())
		cfg.PublicURL, cfg.LoginServerSuffix = c.publicURL, c.suffix
		cfg.Listeners = []config.Listener{{Name: "n", Address: "0.0.0.0:5000", Kind: config.KindPublic}}
		srv, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := srv.index.Load().Addressing.LoginServer("reg"); got != c.want {
			t.Errorf("publicURL %q, suffix %q: %q, want %q", c.publicURL, c.suffix, got, c.want)
		}
		srv.Close()
	}
}
