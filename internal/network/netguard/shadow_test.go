package netguard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
	"github.com/moat-registry/moat/internal/target"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestShadowMode: a registry with a staged set is decided under both; the
// enforced decision applies; each request the staged set would decide
// otherwise is counted (moat_network_shadow_disagreements_total) and
// listed with its source and both decisions, and no other is.
func TestShadowMode(t *testing.T) {
	ctx := context.Background()
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	props := `{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"value":"16.17.18.0/24"}]},
		"stagedNetworkAccess":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"value":"16.17.18.19"},{"value":"20.0.0.0/24"}]}}}`
	if err := m.CreateRegistry(ctx, &meta.Registry{Key: "shadowreg", Name: "shadowreg", Subscription: "s", ResourceGroup: "g", SKU: "Premium", Properties: json.RawMessage(props), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	idx, err := regindex.New(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	audit := NewDenialLog(m, reg)
	h := target.Middleware(idx, (&Guard{Trusted: policy.DefaultTrusted, Record: audit}).Middleware(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })))
	send := func(ip string, times int) int {
		code := 0
		for range times {
			r := httptest.NewRequest("GET", "http://127.0.0.1:5000/v2/shadowreg/app/tags/list", nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r.WithContext(netid.With(r.Context(), netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr(ip)})))
			code = w.Code
		}
		return code
	}
	// Enforced: 16.17.18.0/24. Staged: 16.17.18.19 and 20.0.0.0/24.
	for ip, want := range map[string]int{"16.17.18.19": http.StatusTeapot, "16.17.18.20": http.StatusTeapot, "20.0.0.5": http.StatusForbidden, "30.0.0.1": http.StatusForbidden} {
		if got := send(ip, 3); got != want {
			t.Errorf("%s: %d, want %d (the enforced decision)", ip, got, want)
		}
	}
	if n := testutil.ToFloat64(audit.disagree.WithLabelValues("shadowreg", "allow", "deny")); n != 3 {
		t.Errorf("disagreements allow->deny: %v, want 3 (16.17.18.20)", n)
	}
	if n := testutil.ToFloat64(audit.disagree.WithLabelValues("shadowreg", "deny", "allow")); n != 3 {
		t.Errorf("disagreements deny->allow: %v, want 3 (20.0.0.5)", n)
	}
	got, err := audit.Disagreements(ctx, "shadowreg", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"16.17.18.20": "allow ip-rule deny no-matching-rule", "20.0.0.5": "deny no-matching-rule allow ip-rule 20.0.0.0/24"}
	if len(got) != 2 {
		t.Fatalf("disagreements listed: %+v", got)
	}
	for _, d := range got {
		if w := want[d.ClientIP]; d.Decision+" "+d.Reason+" "+d.StagedDecision+" "+d.StagedReason != w || d.Count != 3 {
			t.Errorf("%s: %+v, want %q x3", d.ClientIP, d, w)
		}
	}
	denials, _ := audit.List(ctx, "shadowreg", time.Now().Add(-time.Hour))
	for _, d := range denials {
		if d.StagedDecision != "" || (d.ClientIP != "20.0.0.5" && d.ClientIP != "30.0.0.1") {
			t.Errorf("denials list a disagreement or an allowed source: %+v", d)
		}
	}
}
