package netguard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
	"github.com/moat-registry/moat/internal/target"
)

// recorder counts decisions, denials and disagreements.
type recorder struct {
	decided   map[string]int // "<registry> <allow|deny> <reason>"
	denied    []string       // "<registry> <route>"
	disagreed []string       // "<registry> <enforced> <staged>"
}

func (r *recorder) Disagreed(key string, _ netid.Identity, d, s policy.Decision, _ string, _ time.Time) {
	r.disagreed = append(r.disagreed, key+" "+d.String()+" "+s.String())
}

func (r *recorder) Decided(key string, d policy.Decision) {
	out := "deny"
	if d.Allow {
		out = "allow"
	}
	r.decided[key+" "+out+" "+d.Reason]++
}

func (r *recorder) Denied(key string, _ netid.Identity, _ policy.Decision, route string, _ time.Time) {
	r.denied = append(r.denied, key+" "+route)
}

// trustedTask says a request speaks for a trusted task identity when the
// credential its target names is the refresh or bearer token "trusted".
type trustedTask struct{}

func (trustedTask) Bypasser(r *http.Request, t *target.Target) (*policy.Principal, bool) {
	switch {
	case t.Token != nil && t.Token.RefreshToken() == "trusted", t.Token == nil && r.Header.Get("Authorization") == "Bearer trusted":
		return &policy.Principal{SystemAssigned: true, ServiceType: policy.DefaultTrusted.Tasks}, true
	}
	return nil, false
}

// gateEnv is a gate over registries open (default Allow) and locked (default
// Deny, IP rule 16.17.18.0/24) with login servers <name>.moat.test.
type gateEnv struct {
	idx *regindex.Index
	rec *recorder
	h   http.Handler
}

func newGateEnv(t *testing.T) *gateEnv {
	ctx := context.Background()
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	for key, props := range map[string]string{
		"openreg":   `{}`,
		"lockedreg": `{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"16.17.18.0/24"}]}}`,
	} {
		if err := m.CreateRegistry(ctx, &meta.Registry{Key: key, Name: key, Subscription: "s", ResourceGroup: "g", SKU: "Premium", Properties: json.RawMessage(props), CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := regindex.New(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := addressing.New("moat.test", "443")
	idx.SetAddressing(a)
	rec := &recorder{decided: map[string]int{}}
	g := &Guard{Trusted: policy.DefaultTrusted, Principals: trustedTask{}, Record: rec}
	passed := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	return &gateEnv{idx: idx, rec: rec, h: target.Middleware(idx, g.Middleware(passed))}
}

// route is one data-plane request in both addressing styles: path style on
// 127.0.0.1:5000 (with the registry in the path, or in the token request's
// scope or service), host style on <registry>.moat.test.
type routeCase struct {
	kind         string
	method       string
	path, host   string // {r} is the registry
	body         string // a form
	registryless bool   // in path style the request names no registry
}

var routes = []routeCase{
	{kind: "ping", method: "GET", path: "/v2/", host: "/v2/", registryless: true},
	{kind: "catalog", method: "GET", path: "/v2/{r}/_catalog", host: "/v2/_catalog"},
	{kind: "catalog of all", method: "GET", path: "/v2/_catalog", host: "/v2/_catalog", registryless: true},
	{kind: "tags", method: "GET", path: "/v2/{r}/app/tags/list", host: "/v2/app/tags/list"},
	{kind: "manifest", method: "HEAD", path: "/v2/{r}/app/manifests/v1", host: "/v2/app/manifests/v1"},
	{kind: "manifest push", method: "PUT", path: "/v2/{r}/team/app/manifests/v1", host: "/v2/team/app/manifests/v1"},
	{kind: "blob", method: "GET", path: "/v2/{r}/app/blobs/sha256:00", host: "/v2/app/blobs/sha256:00"},
	{kind: "upload-start", method: "POST", path: "/v2/{r}/app/blobs/uploads/", host: "/v2/app/blobs/uploads/"},
	{kind: "upload", method: "PATCH", path: "/v2/{r}/app/blobs/uploads/abc", host: "/v2/app/blobs/uploads/abc"},
	{kind: "referrers", method: "GET", path: "/v2/{r}/app/referrers/sha256:00", host: "/v2/app/referrers/sha256:00"},
	{kind: "invalid", method: "GET", path: "/v2/{r}/app/nothing", host: "/v2/app/nothing"},
	{kind: "acr-catalog", method: "GET", path: "/acr/v1/{r}/_catalog", host: "/acr/v1/_catalog"},
	{kind: "acr-catalog of all", method: "GET", path: "/acr/v1/_catalog", host: "/acr/v1/_catalog", registryless: true},
	{kind: "acr-repository", method: "DELETE", path: "/acr/v1/{r}/app", host: "/acr/v1/app"},
	{kind: "acr-tags", method: "GET", path: "/acr/v1/{r}/app/_tags", host: "/acr/v1/app/_tags"},
	{kind: "acr-tag", method: "PATCH", path: "/acr/v1/{r}/app/_tags/v1", host: "/acr/v1/app/_tags/v1"},
	{kind: "acr-manifests", method: "GET", path: "/acr/v1/{r}/app/_manifests", host: "/acr/v1/app/_manifests"},
	{kind: "acr-manifest", method: "GET", path: "/acr/v1/{r}/app/_manifests/sha256:00", host: "/acr/v1/app/_manifests/sha256:00"},
	{kind: "token GET", method: "GET", path: "/oauth2/token?scope=repository:{r}/app:pull", host: "/oauth2/token?scope=repository:app:pull"},
	{kind: "token GET service", method: "GET", path: "/oauth2/token?service=127.0.0.1:5000/{r}", host: "/oauth2/token?service={r}.moat.test"},
	{kind: "token POST", method: "POST", path: "/oauth2/token", host: "/oauth2/token", body: "grant_type=password&username=u&password=p&scope=repository:{r}/app:push"},
	{kind: "exchange", method: "POST", path: "/oauth2/exchange", host: "/oauth2/exchange", body: "grant_type=access_token&access_token=x&service=127.0.0.1:5000/{r}"},
}

func (c routeCase) request(hostStyle bool, reg string) *http.Request {
	path, host := c.path, "127.0.0.1:5000"
	if hostStyle {
		path, host = c.host, reg+".moat.test"
	}
	body := c.body
	if hostStyle {
		body = strings.ReplaceAll(strings.ReplaceAll(body, "127.0.0.1:5000/{r}", "{r}.moat.test"), "{r}/app", "app")
	}
	path, body = strings.ReplaceAll(path, "{r}", reg), strings.ReplaceAll(body, "{r}", reg)
	r := httptest.NewRequest(c.method, "http://"+host+path, strings.NewReader(body))
	r.Host = host
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return r
}

// TestGate: every route kind x addressing style x decision.
func TestGate(t *testing.T) {
	e := newGateEnv(t)
	allowedIP := netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("16.17.18.19")}
	deniedIP := netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("203.0.113.5")}
	for _, c := range routes {
		for _, hostStyle := range []bool{false, true} {
			addressesReg := hostStyle || !c.registryless
			for _, d := range []struct {
				name   string
				reg    string
				id     *netid.Identity
				denied bool
				reason string
			}{
				{"open registry", "openreg", &deniedIP, false, policy.ReasonDefaultAllow},
				{"allowed address", "lockedreg", &allowedIP, false, policy.ReasonIPRule},
				{"denied address", "lockedreg", &deniedIP, addressesReg, policy.ReasonNoMatchingRule},
				{"no client address", "openreg", nil, addressesReg, policy.ReasonNoNetworkIdentity},
				{"unknown registry", "nosuchreg", &deniedIP, false, ""},
			} {
				r := c.request(hostStyle, d.reg)
				if d.id != nil {
					r = r.WithContext(netid.With(r.Context(), *d.id))
				}
				before := len(e.rec.denied)
				w := httptest.NewRecorder()
				e.h.ServeHTTP(w, r)
				style := map[bool]string{false: "path", true: "host"}[hostStyle]
				switch {
				case d.denied && (w.Code != http.StatusForbidden || c.method != "HEAD" && !strings.Contains(w.Body.String(), "is not allowed access")):
					t.Errorf("%s, %s style, %s: %d %s, want the network 403", c.kind, style, d.name, w.Code, w.Body)
				case !d.denied && w.Code != http.StatusTeapot:
					t.Errorf("%s, %s style, %s: %d %s, want it passed", c.kind, style, d.name, w.Code, w.Body)
				case d.denied && (len(e.rec.denied) != before+1 || !strings.HasPrefix(e.rec.denied[before], d.reg+" "+c.method+" ")):
					t.Errorf("%s, %s style, %s: denial not recorded (%v)", c.kind, style, d.name, e.rec.denied[before:])
				}
			}
		}
	}
	// Every decision was counted, the ones without a client address too.
	if e.rec.decided["openreg deny "+policy.ReasonNoNetworkIdentity] == 0 || e.rec.decided["lockedreg allow "+policy.ReasonIPRule] == 0 {
		t.Errorf("decisions: %v", e.rec.decided)
	}
}

// TestGateBypass: the trusted-service bypass reads the credential the
// request's target names, the one the token service will check, and nothing
// else the request carries.
func TestGateBypass(t *testing.T) {
	e := newGateEnv(t)
	denied := netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("203.0.113.5")}
	for _, c := range []struct {
		name   string
		method string
		path   string
		body   url.Values
		authz  string
		pass   bool
	}{
		{"bearer of a trusted service", "GET", "/v2/lockedreg/app/tags/list", nil, "Bearer trusted", true},
		{"refresh grant of a trusted service", "POST", "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"trusted"}, "scope": {"repository:lockedreg/app:pull"}}, "", true},
		{"refresh token beside a password grant", "POST", "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}, "refresh_token": {"trusted"}, "scope": {"repository:lockedreg/app:pull"}}, "", false},
		{"bearer on the token endpoint", "GET", "/oauth2/token?scope=repository:lockedreg/app:pull", nil, "Bearer trusted", false},
		{"malformed query", "POST", "/oauth2/token?x=%zz", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"trusted"}, "scope": {"repository:lockedreg/app:pull"}}, "", false},
	} {
		var body string
		if c.body != nil {
			body = c.body.Encode()
		}
		r := httptest.NewRequest(c.method, "http://127.0.0.1:5000"+c.path, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if c.authz != "" {
			r.Header.Set("Authorization", c.authz)
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r.WithContext(netid.With(r.Context(), denied)))
		if got := w.Code == http.StatusTeapot; got != c.pass {
			t.Errorf("%s: %d %s, want passed=%v", c.name, w.Code, w.Body, c.pass)
		}
	}
}

// TestGateFailsClosed: a token request the target cannot read is answered
// 400 before any decision; a request without a resolved target is refused.
func TestGateFailsClosed(t *testing.T) {
	e := newGateEnv(t)
	r := httptest.NewRequest("GET", "http://127.0.0.1:5000/oauth2/token?scope=repository:openreg/app:pull&x=%zz", nil)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r.WithContext(netid.With(r.Context(), netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("16.17.18.19")})))
	if w.Code != http.StatusBadRequest || len(e.rec.decided) != 0 {
		t.Fatalf("malformed token request: %d %s, decisions %v", w.Code, w.Body, e.rec.decided)
	}
	g := &Guard{Trusted: policy.DefaultTrusted, Record: e.rec}
	w = httptest.NewRecorder()
	g.Middleware(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest("GET", "/v2/openreg/app/tags/list", nil))
	if w.Code < 400 {
		t.Fatalf("no target: %d", w.Code)
	}
}
