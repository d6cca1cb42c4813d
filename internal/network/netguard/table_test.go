package netguard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
	"github.com/moat-registry/moat/internal/target"
)

const (
	subnetA = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/a"
	subnetB = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/b"
	peOK    = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/privateEndpoints/pe-ok"
	peOther = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/privateEndpoints/pe-other"
)

// gateCase is one request to one registry: the listener it came by, the
// client's address, the registry's network settings, whether it carries a
// trusted task's credential, and its route; then the answer and the reason.
type gateCase struct {
	name     string
	listener netid.Path // "" : no network identity (not through a moat listener)
	client   string
	subnet   string // service-endpoint listener: the client's subnet
	pe       string // private-endpoint listener: the endpoint it came through
	props    string // the registry's properties (JSON)
	approved string // a private endpoint with an Approved connection to the registry
	pending  string // a private endpoint with a Pending connection
	trusted  bool   // carries the credential of a trusted task identity
	route    string // a kind of routes (guard_test.go)
	host     bool   // host style
	status   int    // http.StatusTeapot: passed the gate
	reason   string
}

const (
	denyAll     = `{"networkRuleSet":{"defaultAction":"Deny"}}`
	ipRule      = `{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"16.17.18.0/24"}]}}`
	ipRuleSlash = `{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"16.17.18.19"}]}}`
	vnetRule    = `{"networkRuleSet":{"defaultAction":"Deny","virtualNetworkRules":[{"action":"Allow","id":"` + subnetA + `"}]}}`
	noPublic    = `{"publicNetworkAccess":"Disabled","networkRuleSet":{"defaultAction":"Allow"}}`
	noBypass    = `{"networkRuleBypassOptions":"None","networkRuleSet":{"defaultAction":"Deny"}}`
	tasksOnly   = `{"networkRuleBypassOptions":"None","networkRuleBypassAllowedForTasks":true,"networkRuleSet":{"defaultAction":"Deny"}}`
	vnetBypass  = `{"networkRuleBypassAllowedForTasks":true,"networkRuleSet":{"defaultAction":"Deny","virtualNetworkRules":[{"action":"Allow","id":"` + subnetA + `"}]}}`
)

var gateCases = []gateCase{
	// Public listener: default action, IP rules, public access.
	{name: "open registry", listener: netid.Public, client: "203.0.113.5", props: `{}`, route: "manifest", status: http.StatusTeapot, reason: policy.ReasonDefaultAllow},
	{name: "default deny", listener: netid.Public, client: "203.0.113.5", props: denyAll, route: "manifest", status: http.StatusForbidden, reason: policy.ReasonNoMatchingRule},
	{name: "ip rule matches", listener: netid.Public, client: "16.17.18.200", props: ipRule, route: "blob", status: http.StatusTeapot, reason: policy.ReasonIPRule},
	{name: "ip rule matches, host style", listener: netid.Public, client: "16.17.18.200", props: ipRule, route: "blob", host: true, status: http.StatusTeapot, reason: policy.ReasonIPRule},
	{name: "ip rule misses", listener: netid.Public, client: "16.17.19.1", props: ipRule, route: "blob", status: http.StatusForbidden, reason: policy.ReasonNoMatchingRule},
	{name: "single-address rule", listener: netid.Public, client: "16.17.18.19", props: ipRuleSlash, route: "tags", status: http.StatusTeapot, reason: policy.ReasonIPRule},
	{name: "single-address rule, next address", listener: netid.Public, client: "16.17.18.20", props: ipRuleSlash, route: "tags", status: http.StatusForbidden, reason: policy.ReasonNoMatchingRule},
	{name: "IPv4-mapped IPv6 client", listener: netid.Public, client: "::ffff:16.17.18.7", props: ipRule, route: "tags", status: http.StatusTeapot, reason: policy.ReasonIPRule},
	{name: "public access disabled", listener: netid.Public, client: "203.0.113.5", props: noPublic, route: "manifest", status: http.StatusForbidden, reason: policy.ReasonPublicAccessDisabled},
	{name: "public access disabled, token endpoint", listener: netid.Public, client: "203.0.113.5", props: noPublic, route: "token POST", status: http.StatusForbidden, reason: policy.ReasonPublicAccessDisabled},
	{name: "public access disabled, acr API", listener: netid.Public, client: "203.0.113.5", props: noPublic, route: "acr-tags", host: true, status: http.StatusForbidden, reason: policy.ReasonPublicAccessDisabled},
	{name: "no network identity", client: "16.17.18.19", props: `{}`, route: "manifest", status: http.StatusForbidden, reason: policy.ReasonNoNetworkIdentity},

	// Service-endpoint listener: virtual-network rules.
	{name: "vnet rule matches", listener: netid.ServiceEndpoint, client: "10.0.1.5", subnet: subnetA, props: vnetRule, route: "manifest push", status: http.StatusTeapot, reason: policy.ReasonVirtualNetworkRule},
	{name: "vnet rule, other subnet", listener: netid.ServiceEndpoint, client: "10.0.2.5", subnet: subnetB, props: vnetRule, route: "manifest push", status: http.StatusForbidden, reason: policy.ReasonNoMatchingRule},
	{name: "vnet rule, public client", listener: netid.Public, client: "10.0.1.5", props: vnetRule, route: "manifest push", status: http.StatusForbidden, reason: policy.ReasonNoMatchingRule},
	{name: "service endpoint, public access disabled", listener: netid.ServiceEndpoint, client: "10.0.1.5", subnet: subnetA, props: noPublic, route: "manifest", status: http.StatusForbidden, reason: policy.ReasonPublicAccessDisabled},

	// Private-endpoint listener: only an Approved connection admits.
	{name: "approved private endpoint", listener: netid.PrivateEndpoint, client: "10.1.0.4", pe: peOK, props: noPublic, approved: peOK, route: "manifest", status: http.StatusTeapot, reason: policy.ReasonPrivateEndpoint},
	{name: "approved private endpoint, deny-all rules", listener: netid.PrivateEndpoint, client: "10.1.0.4", pe: peOK, props: denyAll, approved: peOK, route: "token POST", host: true, status: http.StatusTeapot, reason: policy.ReasonPrivateEndpoint},
	{name: "pending private endpoint", listener: netid.PrivateEndpoint, client: "10.1.0.4", pe: peOther, props: `{}`, approved: peOK, pending: peOther, route: "manifest", status: http.StatusForbidden, reason: policy.ReasonPrivateEndpointUnknown},
	{name: "private endpoint of another registry, open registry", listener: netid.PrivateEndpoint, client: "10.1.0.4", pe: peOther, props: `{}`, route: "manifest", status: http.StatusForbidden, reason: policy.ReasonPrivateEndpointUnknown},
	{name: "unapproved private endpoint with a trusted credential", listener: netid.PrivateEndpoint, client: "10.1.0.4", pe: peOther, props: denyAll, trusted: true, route: "manifest", status: http.StatusForbidden, reason: policy.ReasonPrivateEndpointUnknown},

	// Trusted-service bypass.
	{name: "bypass AzureServices, trusted task", listener: netid.Public, client: "203.0.113.5", props: denyAll, trusted: true, route: "manifest", status: http.StatusTeapot, reason: policy.ReasonTrustedService},
	{name: "bypass AzureServices, trusted task, token refresh", listener: netid.Public, client: "203.0.113.5", props: denyAll, trusted: true, route: "token POST", status: http.StatusTeapot, reason: policy.ReasonTrustedService},
	{name: "bypass AzureServices, public access disabled", listener: netid.Public, client: "203.0.113.5", props: noPublic, trusted: true, route: "manifest", status: http.StatusTeapot, reason: policy.ReasonTrustedService},
	{name: "bypass AzureServices, no credential", listener: netid.Public, client: "203.0.113.5", props: denyAll, route: "manifest", status: http.StatusForbidden, reason: policy.ReasonNoMatchingRule},
	{name: "bypass None", listener: netid.Public, client: "203.0.113.5", props: noBypass, trusted: true, route: "manifest", status: http.StatusForbidden, reason: policy.ReasonNoMatchingRule},
	{name: "bypass None, tasks allowed", listener: netid.Public, client: "203.0.113.5", props: tasksOnly, trusted: true, route: "blob", status: http.StatusTeapot, reason: policy.ReasonTrustedService},
	{name: "bypass with vnet rules", listener: netid.Public, client: "203.0.113.5", props: vnetBypass, trusted: true, route: "manifest", status: http.StatusForbidden, reason: policy.ReasonNoMatchingRule},

	// Requests that name no registry pass the gate (nothing to decide).
	{name: "ping, deny-all registry", listener: netid.Public, client: "203.0.113.5", props: denyAll, route: "ping", status: http.StatusTeapot},
	{name: "catalog of all, deny-all registry", listener: netid.Public, client: "203.0.113.5", props: denyAll, route: "catalog of all", status: http.StatusTeapot},
}

// lastDecision keeps the gate's last decision and denial.
type lastDecision struct {
	decided policy.Decision
	denied  string // "<registry> <route>"
	n       int
}

func (l *lastDecision) Decided(_ string, d policy.Decision) { l.decided, l.n = d, l.n+1 }
func (l *lastDecision) Disagreed(string, netid.Identity, policy.Decision, policy.Decision, string, time.Time) {
}
func (l *lastDecision) Denied(key string, _ netid.Identity, _ policy.Decision, route string, _ time.Time) {
	l.denied = key + " " + route
}

// TestGateTable: listener kind x client address x registry rules x public
// access x bypass x route -> status and reason. Each case has a registry of
// its own (gatecaseNN).
func TestGateTable(t *testing.T) {
	ctx := context.Background()
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	for i, c := range gateCases {
		key := fmt.Sprintf("gatecase%02d", i)
		if err := m.CreateRegistry(ctx, &meta.Registry{Key: key, Name: key, Subscription: "s", ResourceGroup: "g", SKU: "Premium",
			Properties: json.RawMessage(c.props), CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		for pe, status := range map[string]string{c.approved: model.StatusApproved, c.pending: model.StatusPending} {
			if pe != "" {
				putConnection(t, m, key, pe, status)
			}
		}
	}
	idx, err := regindex.New(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := addressing.New("moat.test", "443")
	idx.SetAddressing(a)
	rec := &lastDecision{}
	g := &Guard{Trusted: policy.DefaultTrusted, Principals: trustedTask{}, Record: rec}
	passed := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := target.Middleware(idx, g.Middleware(passed))

	for i, c := range gateCases {
		t.Run(c.name, func(t *testing.T) {
			key := fmt.Sprintf("gatecase%02d", i)
			r := routeOf(t, c.route).request(c.host, key)
			if c.trusted {
				withTrustedCredential(r)
			}
			if c.listener != "" {
				id := netid.Identity{Path: c.listener, ClientIP: netip.MustParseAddr(c.client),
					Subnet: strings.ToLower(c.subnet), PrivateEndpoint: strings.ToLower(c.pe)}
				r = r.WithContext(netid.With(r.Context(), id))
			}
			*rec = lastDecision{}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.status {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, c.status)
			}
			if c.reason == "" {
				if rec.n != 0 {
					t.Fatalf("decided %v for a request that names no registry", rec.decided)
				}
				return
			}
			if rec.decided.Reason != c.reason {
				t.Errorf("reason %q, want %q", rec.decided.Reason, c.reason)
			}
			if denied := c.status == http.StatusForbidden; denied != (rec.denied != "") {
				t.Errorf("denial recorded: %q", rec.denied)
			}
			if c.status == http.StatusForbidden && r.Method != "HEAD" {
				ip := netip.MustParseAddr(c.client).String()
				if c.listener == "" {
					ip = "unknown"
				}
				if want := "client with IP '" + ip + "' is not allowed access"; !strings.Contains(w.Body.String(), want) {
					t.Errorf("body %s, want %q", w.Body, want)
				}
			}
		})
	}
}

func routeOf(t *testing.T, kind string) routeCase {
	t.Helper()
	for _, c := range routes {
		if c.kind == kind {
			return c
		}
	}
	t.Fatalf("no route %q", kind)
	return routeCase{}
}

// withTrustedCredential makes r carry the credential trustedTask accepts
// where the request's target reads it: a token request's refresh token, or
// the bearer token of any other request.
func withTrustedCredential(r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/oauth2/") {
		r.Header.Set("Authorization", "Bearer trusted")
		return
	}
	b, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(b))
	form.Set("grant_type", "refresh_token")
	form.Del("username")
	form.Del("password")
	form.Set("refresh_token", "trusted")
	body := form.Encode()
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
}

func putConnection(t *testing.T, m meta.Store, reg, pe, status string) {
	t.Helper()
	id := "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/" + reg +
		"/privateEndpointConnections/" + pe[strings.LastIndex(pe, "/")+1:]
	body, _ := json.Marshal(model.PrivateEndpointConnection{ID: id, Name: pe[strings.LastIndex(pe, "/")+1:], Type: model.TypePEC,
		Properties: model.PECProperties{PrivateEndpoint: &model.SubResource{ID: pe},
			PrivateLinkServiceConnectionState: &model.ConnectionState{Status: status}}})
	if err := m.PutResource(context.Background(), &meta.Resource{ID: id, Type: model.TypePEC, Body: body}); err != nil {
		t.Fatal(err)
	}
}
