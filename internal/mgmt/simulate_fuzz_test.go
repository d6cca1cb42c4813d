package mgmt

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moat-registry/moat/internal/model"
)

// FuzzSimulateRequest: a simulate body and days query either read into
// settings with days from 1 to 30 and a network rule set, or are refused
// with a 4xx that says what to send; never a panic or a 500.
func FuzzSimulateRequest(f *testing.F) {
	f.Add([]byte(`{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"20.30.40.50"}]},"days":3}`), "")
	f.Add([]byte(`{"properties":{"publicNetworkAccess":"Disabled"}}`), "30")
	f.Add([]byte(`{"networkRuleSet":null,"Days":1}`), "0")
	f.Add([]byte(`{"networkRuleSet":{"ipRules":"x"}}`), "")
	f.Add([]byte(`{"days":1e400,"sku":"Basic"}`), "-1")
	f.Add([]byte(`{"networkRuleBypassAllowedForTasks":"yes"}`), "7x")
	cur := model.RegistryProperties{}.WithDefaults()
	f.Fuzz(func(t *testing.T, body []byte, days string) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		obj, err := readObject(r)
		if err != nil {
			return
		}
		patch, n, err := simulateRequest(obj, days)
		if err == nil {
			if n < 1 || n > maxSimulateDays {
				t.Fatalf("days %d accepted", n)
			}
			var p RegistryProperties
			p, err = proposedSettings(cur, patch)
			if err == nil && p.NetworkRuleSet == nil {
				t.Fatalf("proposed settings without a rule set from %s", body)
			}
		}
		var e *Error
		if err != nil && (!errors.As(err, &e) || e.Status >= 500 || e.Message == "") {
			t.Fatalf("%s (days %q): %v, want a 4xx with a message", body, days, err)
		}
	})
}
