package model

import (
	"encoding/json"
	"testing"
	"time"
)

func TestIPRuleExpirySent(t *testing.T) {
	for in, want := range map[string]bool{
		`{"value":"20.0.0.1"}`:                                    false,
		`{"value":"20.0.0.1","expiresOn":null}`:                   true,
		`{"value":"20.0.0.1","ExpiresOn":"2030-01-02T03:04:05Z"}`: true,
	} {
		var r IPRule
		if err := json.Unmarshal([]byte(in), &r); err != nil || r.ExpirySent != want {
			t.Errorf("%s: ExpirySent %v (%v), want %v", in, r.ExpirySent, err, want)
		}
	}
	var r IPRule
	if err := json.Unmarshal([]byte(`{"value":"20.0.0.1","expiresOn":"2030-01-02T03:04:05Z"}`), &r); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if r.Expired(at.Add(-time.Nanosecond)) || !r.Expired(at) || (IPRule{}).Expired(at) {
		t.Errorf("Expired is wrong around %v", at)
	}
}

// FuzzIPRule: any body either fails to decode or decodes to a rule that
// round-trips with the same value and expiry.
func FuzzIPRule(f *testing.F) {
	for _, s := range []string{`{"value":"20.0.0.1"}`, `{"value":"1.2.3.4","expiresOn":null}`,
		`{"action":"Allow","value":"::1","expiresOn":"2030-01-02T03:04:05.123+02:00"}`, `[]`, `{"expiresOn":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var r IPRule
		if json.Unmarshal([]byte(s), &r) != nil {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var again IPRule
		if err := json.Unmarshal(b, &again); err != nil || again.Value != r.Value ||
			(again.ExpiresOn == nil) != (r.ExpiresOn == nil) || (r.ExpiresOn != nil && !again.ExpiresOn.Equal(*r.ExpiresOn)) {
			t.Fatalf("%s -> %s -> %+v (%v)", s, b, again, err)
		}
	})
}
