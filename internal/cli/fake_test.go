package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeARM is a management API that records the requests it gets and answers
// from canned replies, so that tests can check what each command sends.
type fakeARM struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	reqs    []request
	replies map[string][]reply // "METHOD /path" -> replies, used in turn; the last one repeats
	// handlers serve the paths under a prefix themselves (token endpoints,
	// which take forms rather than JSON); their requests are recorded too.
	handlers map[string]http.HandlerFunc
}

type request struct {
	Method, Path, APIVersion, IfMatch, Auth string
	Body                                    any
	// Query is the raw query without api-version; Host the Host header.
	Query, Host string
}

func (r request) String() string { return r.Method + " " + r.Path }

type reply struct {
	status int
	body   any
	etag   string
}

const testSub = "00000000-0000-0000-0000-000000000001"

func newFakeARM(t *testing.T) *fakeARM {
	t.Helper()
	f := &fakeARM{t: t, replies: map[string][]reply{}, handlers: map[string]http.HandlerFunc{}}
	f.on("GET", "/subscriptions", 200, object{"value": []any{
		object{"id": "/subscriptions/" + testSub, "subscriptionId": testSub, "displayName": "moat", "state": "Enabled"},
	}})
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	// Commands run with the config in a temporary directory.
	t.Setenv("MOAT_CONFIG_DIR", t.TempDir())
	t.Setenv("MOAT_SERVER", "")
	t.Setenv("MOAT_CA_FILE", "")
	t.Setenv("MOAT_ACCESS_TOKEN", "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	return f
}

// on adds replies for method and path (relative to the subscription when it
// starts with "~").
func (f *fakeARM) on(method, path string, status int, body any, etag ...string) *fakeARM {
	path = expandPath(path)
	r := reply{status: status, body: body}
	if len(etag) > 0 {
		r.etag = etag[0]
	}
	key := method + " " + strings.ToLower(path)
	f.replies[key] = append(f.replies[key], r)
	return f
}

// set replaces the replies for method and path with one.
func (f *fakeARM) set(method, path string, status int, body any) *fakeARM {
	f.mu.Lock()
	delete(f.replies, method+" "+strings.ToLower(expandPath(path)))
	f.mu.Unlock()
	return f.on(method, path, status, body)
}

func expandPath(p string) string {
	if strings.HasPrefix(p, "~") {
		return "/subscriptions/" + testSub + p[1:]
	}
	return p
}

// handle serves the paths under prefix with h.
func (f *fakeARM) handle(prefix string, h http.HandlerFunc) *fakeARM {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[prefix] = h
	return f
}

func (f *fakeARM) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	q.Del("api-version")
	f.mu.Lock()
	for prefix, h := range f.handlers {
		if strings.HasPrefix(r.URL.Path, expandPath(prefix)) {
			req := request{Method: r.Method, Path: r.URL.Path, Query: q.Encode(), Host: r.Host, Auth: r.Header.Get("Authorization")}
			raw, _ := io.ReadAll(r.Body)
			if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				_ = json.Unmarshal(raw, &req.Body)
			}
			r.Body = io.NopCloser(bytes.NewReader(raw))
			f.reqs = append(f.reqs, req)
			f.mu.Unlock()
			h(w, r)
			return
		}
	}
	f.mu.Unlock()
	raw, _ := io.ReadAll(r.Body)
	req := request{Method: r.Method, Path: r.URL.Path, APIVersion: r.URL.Query().Get("api-version"), IfMatch: r.Header.Get("If-Match"), Auth: r.Header.Get("Authorization"),
		Query: q.Encode(), Host: r.Host}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &req.Body); err != nil {
			f.t.Errorf("%s %s: body is not JSON: %s", r.Method, r.URL.Path, raw)
		}
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	key := r.Method + " " + strings.ToLower(r.URL.Path)
	rs := f.replies[key]
	var rep reply
	switch {
	case len(rs) == 0:
		rep = reply{status: 404, body: object{"error": object{"code": "ResourceNotFound", "message": "no canned reply for " + r.Method + " " + r.URL.Path}}}
	case len(rs) == 1:
		rep = rs[0]
	default:
		rep, f.replies[key] = rs[0], rs[1:]
	}
	f.mu.Unlock()
	if rep.etag != "" {
		w.Header().Set("ETag", rep.etag)
	}
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_ = json.NewEncoder(w).Encode(rep.body)
}

// requests returns the requests recorded so far, without the subscription
// lookups, and forgets them.
func (f *fakeARM) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []request
	for _, r := range f.reqs {
		if r.Method == "GET" && r.Path == "/subscriptions" {
			continue
		}
		out = append(out, r)
	}
	f.reqs = nil
	return out
}

// run runs the CLI against the fake server.
func (f *fakeARM) run(stdin string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = run(append(args, "--server", f.srv.URL), strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// mustRun runs the CLI and fails the test unless it succeeds.
func (f *fakeARM) mustRun(args ...string) string {
	f.t.Helper()
	out, errOut, code := f.run("", args...)
	if code != 0 {
		f.t.Fatalf("moat %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// jsonEqual compares two values as JSON.
func jsonEqual(a, b any) bool {
	ra, _ := json.Marshal(a)
	rb, _ := json.Marshal(b)
	var va, vb any
	_ = json.Unmarshal(ra, &va)
	_ = json.Unmarshal(rb, &vb)
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb)
}

func pretty(v any) string {
	raw, _ := json.MarshalIndent(v, "", "  ")
	return string(raw)
}

// Fixtures: the server's ARM answers.

const (
	regID    = "~/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/reg1"
	vnetID   = "~/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/vnet1"
	subnetID = vnetID + "/subnets/subnet1"
	peID     = "~/resourceGroups/rg1/providers/Microsoft.Network/privateEndpoints/pe1"
	pecID    = regID + "/privateEndpointConnections/pe1.conn"
)

func registryFixture(name, rg string, nrs object) object {
	if nrs == nil {
		nrs = object{"defaultAction": "Allow", "ipRules": []any{}, "virtualNetworkRules": []any{}}
	}
	return object{
		"id":       expandPath("~/resourceGroups/" + rg + "/providers/Microsoft.ContainerRegistry/registries/" + name),
		"name":     name,
		"type":     "Microsoft.ContainerRegistry/registries",
		"location": "westus",
		"sku":      object{"name": "Premium", "tier": "Premium"},
		"properties": object{
			"loginServer":                      "127.0.0.1:5000/" + strings.ToLower(name),
			"creationDate":                     "2026-01-02T03:04:05.123456Z",
			"provisioningState":                "Succeeded",
			"adminUserEnabled":                 false,
			"anonymousPullEnabled":             false,
			"publicNetworkAccess":              "Enabled",
			"networkRuleSet":                   nrs,
			"networkRuleBypassOptions":         "AzureServices",
			"networkRuleBypassAllowedForTasks": false,
			"dataEndpointEnabled":              false,
			"privateEndpointConnections":       []any{pecFixture("Approved")},
		},
	}
}

func rulesFixture() object {
	return object{
		"defaultAction": "Deny",
		"ipRules":       []any{object{"action": "Allow", "value": "1.2.3.4"}, object{"action": "Allow", "value": "16.17.18.0/24"}},
		"virtualNetworkRules": []any{object{"action": "Allow",
			"virtualNetworkSubnetResourceId": expandPath(subnetID)}},
	}
}

func pecFixture(status string) object {
	return object{
		"id":   expandPath(pecID),
		"name": "pe1.conn",
		"type": "Microsoft.ContainerRegistry/registries/privateEndpointConnections",
		"properties": object{
			"privateEndpoint":                   object{"id": expandPath(peID)},
			"privateLinkServiceConnectionState": object{"status": status, "description": "Auto-Approved", "actionsRequired": "None"},
			"groupIds":                          []any{"registry"},
			"provisioningState":                 "Succeeded",
		},
	}
}

func subnetFixture(name string, endpoints ...string) object {
	eps := []any{}
	for _, e := range endpoints {
		eps = append(eps, object{"service": e, "locations": []any{"*"}, "provisioningState": "Succeeded"})
	}
	return object{
		"id":   expandPath(vnetID + "/subnets/" + name),
		"name": name,
		"type": "Microsoft.Network/virtualNetworks/subnets",
		"etag": `"7"`,
		"properties": object{
			"addressPrefix":     "10.0.0.0/24",
			"serviceEndpoints":  eps,
			"privateEndpoints":  []any{object{"id": expandPath(peID)}},
			"provisioningState": "Succeeded",
		},
	}
}

func vnetFixture() object {
	return object{
		"id":       expandPath(vnetID),
		"name":     "vnet1",
		"type":     "Microsoft.Network/virtualNetworks",
		"location": "westus",
		"properties": object{
			"addressSpace":      object{"addressPrefixes": []any{"10.0.0.0/16", "10.1.0.0/16"}},
			"subnets":           []any{subnetFixture("subnet1", "Microsoft.ContainerRegistry"), subnetFixture("subnet2")},
			"provisioningState": "Succeeded",
		},
	}
}

func peFixture() object {
	return object{
		"id":       expandPath(peID),
		"name":     "pe1",
		"type":     "Microsoft.Network/privateEndpoints",
		"location": "westus",
		"properties": object{
			"subnet": object{"id": expandPath(subnetID)},
			"privateLinkServiceConnections": []any{object{
				"id":   expandPath(peID + "/privateLinkServiceConnections/conn"),
				"name": "conn",
				"properties": object{
					"privateLinkServiceId":              expandPath(regID),
					"groupIds":                          []any{"registry"},
					"privateLinkServiceConnectionState": object{"status": "Approved", "description": "Auto-Approved", "actionsRequired": "None"},
				},
			}},
			"ipConfigurations":  []any{object{"name": "pe1-ipconfig", "properties": object{"privateIPAddress": "10.0.0.4", "groupId": "registry", "memberName": "registry"}}},
			"customDnsConfigs":  []any{object{"fqdn": "reg1.privatelink.moat.local", "ipAddresses": []any{"10.0.0.4"}}},
			"provisioningState": "Succeeded",
		},
	}
}

func groupFixture(name, location string) object {
	return object{
		"id":         "/subscriptions/" + testSub + "/resourceGroups/" + name,
		"name":       name,
		"type":       "Microsoft.Resources/resourceGroups",
		"location":   location,
		"properties": object{"provisioningState": "Succeeded"},
	}
}

func list(items ...object) object {
	v := []any{}
	for _, it := range items {
		v = append(v, it)
	}
	return object{"value": v}
}

func armError(code, msg string) object {
	return object{"error": object{"code": code, "message": msg}}
}

// argv splits a command line on spaces; "" stands for an empty argument.
func argv(s string) []string {
	args := strings.Fields(s)
	for i, a := range args {
		if a == `""` {
			args[i] = ""
		}
	}
	return args
}
