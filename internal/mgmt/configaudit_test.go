package mgmt_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/audit/audittest"
	"github.com/moat-registry/moat/internal/mgmt"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

// TestNetworkSettingsChangesAreRecorded (issue 17 item 2): the management
// API records a registry's network settings before and after each change
// itself — creation, a rule change, a deletion — and nothing for a change
// that leaves them as they were.
func TestNetworkSettingsChangesAreRecorded(t *testing.T) {
	rec := &audittest.Recorder{}
	e := newEnv(t, func(h *mgmt.Handler, _ *sqlite.Store) { h.Record = rec })
	e.must(t, http.StatusCreated, http.MethodPut, regPath("cfgreg"), registryBody("Premium", nil))
	e.must(t, http.StatusOK, http.MethodPatch, regPath("cfgreg"), obj{"properties": ruleSet("Deny", ipRules("198.51.100.7"), nil)})
	e.must(t, http.StatusOK, http.MethodPatch, regPath("cfgreg"), obj{"tags": obj{"team": "a"}})
	e.do(t, http.MethodDelete, regPath("cfgreg"), nil)
	evs := rec.Take()
	if len(evs) != 3 {
		t.Fatalf("%d events, want the creation, the rule change and the deletion: %+v", len(evs), evs)
	}
	for i, want := range []string{"PUT", "PATCH", "DELETE"} {
		ev := evs[i]
		if ev.Type != audit.TypeConfig || ev.Registry != "cfgreg" || ev.Outcome != audit.Success || !strings.HasPrefix(ev.Detail, want+" ") {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
	if string(evs[0].Before) != "null" || !strings.Contains(string(evs[1].After), "198.51.100.7") ||
		strings.Contains(string(evs[1].Before), "198.51.100.7") || string(evs[2].After) != "null" {
		t.Fatalf("before and after: %s -> %s; %s -> %s; %s -> %s", evs[0].Before, evs[0].After, evs[1].Before, evs[1].After, evs[2].Before, evs[2].After)
	}
}
