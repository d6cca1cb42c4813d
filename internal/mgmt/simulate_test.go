package mgmt_test

import (
	"net/http"
	"testing"
)

// TestSimulateNeedsWrite: the impact preview shows who reaches a registry
// from where, so a caller who may only read the registry is refused
// before the traffic memory is read (the environment's tripwire fails the
// test if it is reached).
func TestSimulateNeedsWrite(t *testing.T) {
	e := newAuthzEnv(t)
	tm := newTeams(e)
	reader := e.user("reader")
	e.grant(reader, "Reader", "/subscriptions/"+sub)
	status, m := e.call(reader, "POST", tm.regB+"/simulateNetworkRuleSet", obj{"networkRuleSet": obj{"defaultAction": "Deny"}})
	if code, _ := errOf(m); status != http.StatusForbidden || code != "AuthorizationFailed" {
		t.Fatalf("Reader simulate: %d %v, want 403 AuthorizationFailed", status, m)
	}
}
