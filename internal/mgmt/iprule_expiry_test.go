package mgmt_test

import (
	"net/http"
	"testing"
	"time"
)

// TestIPRuleExpiry: expiresOn is stored and shown; one in the past is
// refused; a client that writes the rule set back without the member (as
// az's SDK models do) keeps the expiry, and null clears it; a merge patch of
// another property keeps it; of duplicates, the longer-lived one wins.
func TestIPRuleExpiry(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "expiring", "Premium")
	p := regPath("expiring")
	in := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	later := in.Add(time.Hour)
	rule := func(v string, exp any) obj {
		r := obj{"action": "Allow", "value": v}
		if exp != "" {
			r["expiresOn"] = exp
		}
		return r
	}
	rules := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for i := range length(t, m, "properties", "networkRuleSet", "ipRules") {
			r := get(t, m, "properties", "networkRuleSet", "ipRules", i).(map[string]any)
			out[r["value"].(string)] = r["expiresOn"]
		}
		return out
	}
	patch := func(ips ...any) map[string]any {
		return e.must(t, http.StatusOK, "PATCH", p, obj{"properties": ruleSet("Deny", ips, nil)})
	}

	m := patch(rule("20.0.0.1", in.Format(time.RFC3339)), rule("20.0.0.2", ""))
	if got := rules(m); got["20.0.0.1"] != in.Format(time.RFC3339) || got["20.0.0.2"] != nil {
		t.Fatalf("stored rules %v, want 20.0.0.1 expiring at %s and 20.0.0.2 without expiry", got, in.Format(time.RFC3339))
	}
	if got := rules(e.must(t, http.StatusOK, "GET", p, nil)); got["20.0.0.1"] != in.Format(time.RFC3339) {
		t.Fatalf("GET shows %v", got)
	}

	status, m := e.do(t, "PATCH", p, obj{"properties": ruleSet("Deny", []any{rule("20.0.0.3", time.Now().Add(-time.Minute).Format(time.RFC3339))}, nil)})
	wantErr(t, status, m, http.StatusBadRequest, "InvalidIpRule", "20.0.0.3", "not in the future")
	status, m = e.do(t, "PATCH", p, obj{"properties": ruleSet("Deny", []any{rule("20.0.0.3", "tomorrow")}, nil)})
	if status != http.StatusBadRequest {
		t.Fatalf("expiresOn \"tomorrow\": %d %v, want 400", status, m)
	}

	// Written back without the member, with a new rule beside it.
	if got := rules(patch(rule("20.0.0.1", ""), rule("20.0.0.2", ""), rule("20.0.0.4", ""))); got["20.0.0.1"] != in.Format(time.RFC3339) || got["20.0.0.4"] != nil {
		t.Fatalf("after a write-back without expiresOn: %v", got)
	}
	// A merge patch of something else sends the stored expiry back.
	m = e.must(t, http.StatusOK, "PATCH", p, obj{"properties": obj{"adminUserEnabled": true}})
	if got := rules(m); got["20.0.0.1"] != in.Format(time.RFC3339) {
		t.Fatalf("after an unrelated PATCH: %v", got)
	}
	// Duplicates: the later expiry wins, and no expiry beats any.
	if got := rules(patch(rule("20.0.0.1", later.Format(time.RFC3339)), rule("20.0.0.1/32", in.Format(time.RFC3339)),
		rule("20.0.0.2", in.Format(time.RFC3339)), rule("20.0.0.2", nil))); got["20.0.0.1"] != later.Format(time.RFC3339) || got["20.0.0.2"] != nil {
		t.Fatalf("duplicates: %v", got)
	}
	// null makes the rule permanent.
	if got := rules(patch(rule("20.0.0.1", nil))); got["20.0.0.1"] != nil {
		t.Fatalf("after expiresOn null: %v", got)
	}
}
