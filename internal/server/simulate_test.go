package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"testing"
)

// simulateAnswer is the part of a simulateNetworkRuleSet answer the tests read.
type simulateAnswer struct {
	Sources      int `json:"sources"`
	NewlyDenied  []simulatedEntry
	NewlyAllowed []simulatedEntry
	Principals   []struct {
		Principal string `json:"principal"`
		Requests  int64  `json:"requests"`
	} `json:"newlyDeniedPrincipals"`
}

type simulatedEntry struct {
	ClientIP  string `json:"clientIp"`
	Principal string `json:"principal"`
	Requests  int64  `json:"requests"`
	LastSeen  string `json:"lastSeen"`
	Proposed  struct {
		Reason string `json:"reason"`
	} `json:"proposed"`
}

func ips(es []simulatedEntry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.ClientIP)
	}
	sort.Strings(out)
	return out
}

// TestSimulateNamesWhatTheChangeDenies (issue 21 item 2's done-when):
// traffic from three sources, through the real server behind a trusted
// proxy, is remembered; a simulate of a change that cuts one of them off
// names exactly that source; applying the change denies exactly it; a
// simulate of the way back names it as newly allowed.
func TestSimulateNamesWhatTheChangeDenies(t *testing.T) {
	cfg := opsConfig(t, t.TempDir())
	cfg.Listeners[0].TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	e := startOps(t, cfg)
	reg := e.regPath("simreg")
	if code, b := e.mgmt(http.MethodPut, reg, `{"location":"local","sku":{"name":"Premium"},"properties":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"203.0.113.0/24"},{"action":"Allow","value":"198.51.100.7"}]}}}`); code >= 300 {
		t.Fatalf("create registry: %d %s", code, b)
	}
	from := func(ip, method, path, tok string) int {
		t.Helper()
		resp := e.do(method, path, tok, nil, map[string]string{"X-Forwarded-For": ip})
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// A signs in as the administrator and pulls; B and C ask anonymously
	// (let through the gate, then asked to sign in); D is denied.
	req, _ := http.NewRequest(http.MethodGet, e.base+"/oauth2/token?service="+cfg.Listeners[0].Address+"&scope=repository:simreg/app:pull,push", nil)
	req.SetBasicAuth("admin", opsPassword)
	req.Header.Set("X-Forwarded-For", "203.0.113.10")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Token == "" {
		t.Fatalf("token from A: %s %v", resp.Status, err)
	}
	resp.Body.Close()
	for range 2 {
		if code := from("203.0.113.10", http.MethodGet, "/v2/simreg/app/tags/list", tok.Token); code == http.StatusForbidden {
			t.Fatalf("A: %d", code)
		}
	}
	for _, ip := range []string{"203.0.113.20", "198.51.100.7", "198.51.100.7"} {
		if code := from(ip, http.MethodGet, "/v2/simreg/app/tags/list", ""); code != http.StatusUnauthorized {
			t.Fatalf("%s: %d, want 401", ip, code)
		}
	}
	if code := from("192.0.2.1", http.MethodGet, "/v2/simreg/app/tags/list", ""); code != http.StatusForbidden {
		t.Fatalf("D: %d, want 403", code)
	}

	simulate := func(body string) simulateAnswer {
		t.Helper()
		code, b := e.mgmt(http.MethodPost, reg+"/simulateNetworkRuleSet", body)
		if code != http.StatusOK {
			t.Fatalf("simulate %s: %d %s", body, code, b)
		}
		var out simulateAnswer
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	cut := `{"networkRuleSet":{"ipRules":[{"action":"Allow","value":"203.0.113.0/24"}]}}`
	got := simulate(cut)
	if d := ips(got.NewlyDenied); len(d) != 1 || d[0] != "198.51.100.7" || len(got.NewlyAllowed) != 0 {
		t.Fatalf("simulate of removing 198.51.100.7: newly denied %v, allowed %v; want exactly [198.51.100.7] and none", d, ips(got.NewlyAllowed))
	}
	if c := got.NewlyDenied[0]; c.Requests != 2 || c.LastSeen == "" || c.Proposed.Reason != "no-matching-rule" {
		t.Errorf("C's entry: %+v, want 2 requests, a last seen, reason no-matching-rule", c)
	}
	if got.Sources != 3 {
		t.Errorf("sources remembered: %d, want 3 (A, B, C; not the denied D)", got.Sources)
	}
	// Cutting A and B off names the administrator among the principals.
	ab := simulate(`{"properties":{"networkRuleSet":{"ipRules":[{"action":"Allow","value":"198.51.100.7"}]}},"days":1}`) // as a PATCH body
	if d := ips(ab.NewlyDenied); len(d) != 2 || d[0] != "203.0.113.10" || d[1] != "203.0.113.20" {
		t.Fatalf("simulate of keeping only C: newly denied %v", d)
	}
	var aRequests int64
	for _, s := range ab.NewlyDenied {
		if s.ClientIP == "203.0.113.10" {
			aRequests += s.Requests
		}
	}
	if aRequests != 3 || len(ab.Principals) != 1 || ab.Principals[0].Principal == "" {
		t.Errorf("A: %d requests (want 3: the token and two pulls), principals %+v (want the administrator)", aRequests, ab.Principals)
	}

	// The real change denies exactly what the simulation named.
	if code, b := e.mgmt(http.MethodPatch, reg, `{"properties":`+cut+`}`); code >= 300 {
		t.Fatalf("apply: %d %s", code, b)
	}
	for ip, want := range map[string]bool{"203.0.113.10": false, "203.0.113.20": false, "198.51.100.7": true} {
		if denied := from(ip, http.MethodGet, "/v2/simreg/app/tags/list", "") == http.StatusForbidden; denied != want {
			t.Errorf("after the change %s denied: %v, want %v", ip, denied, want)
		}
	}
	back := simulate(`{"networkRuleSet":{"ipRules":[{"action":"Allow","value":"203.0.113.0/24"},{"action":"Allow","value":"198.51.100.7"}]}}`)
	if a := ips(back.NewlyAllowed); len(a) != 1 || a[0] != "198.51.100.7" || len(back.NewlyDenied) != 0 {
		t.Errorf("simulate of the way back: newly allowed %v, denied %v; want [198.51.100.7] and none", a, ips(back.NewlyDenied))
	}
	// A registry created again under the name remembers nothing of the
	// earlier one's traffic.
	if code, b := e.mgmt(http.MethodDelete, reg, ""); code >= 300 {
		t.Fatalf("delete: %d %s", code, b)
	}
	if code, b := e.mgmt(http.MethodPut, reg, `{"location":"local","sku":{"name":"Premium"}}`); code >= 300 {
		t.Fatalf("create again: %d %s", code, b)
	}
	if again := simulate(`{"publicNetworkAccess":"Disabled"}`); again.Sources != 0 || len(again.NewlyDenied) != 0 {
		t.Errorf("the registry created again sees %d sources of the earlier one: %+v", again.Sources, again.NewlyDenied)
	}
	// Bad input is a 400 that says what to send.
	for _, body := range []string{`{"sku":"Basic"}`, `{"days":0}`, `{"days":"x"}`, `{"networkRuleSet":{"defaultAction":"Maybe"}}`, `[]`} {
		if code, b := e.mgmt(http.MethodPost, reg+"/simulateNetworkRuleSet", body); code != http.StatusBadRequest {
			t.Errorf("simulate %s: %d %s, want 400", body, code, b)
		}
	}
}
