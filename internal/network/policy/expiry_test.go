package policy

import (
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/model"
)

// TestExpiringRules: a rule matches until its expiry and from then on
// nothing, without a recompile; a longer-lived rule that holds the same
// address (a shorter prefix) still lets it in.
func TestExpiringRules(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	defer func(c func() time.Time) { clock = c }(clock)
	at := func(d time.Duration) { clock = func() time.Time { return t0.Add(d) } }
	exp := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	r := Compile(model.RegistryProperties{NetworkRuleSet: &model.NetworkRuleSet{DefaultAction: "Deny", IPRules: []model.IPRule{
		{Value: "20.0.0.1", ExpiresOn: exp(time.Minute)},
		{Value: "20.1.0.7", ExpiresOn: exp(time.Minute)},
		{Value: "20.1.0.0/24", ExpiresOn: exp(time.Hour)},
		{Value: "20.2.0.9", ExpiresOn: exp(time.Minute)},
		{Value: "20.2.0.0/16"},
	}}}, nil)
	cases := []struct {
		at       time.Duration
		ip, rule string // rule "": denied
	}{
		{0, "20.0.0.1", "20.0.0.1"},
		{time.Minute - time.Nanosecond, "20.0.0.1", "20.0.0.1"},
		{time.Minute, "20.0.0.1", ""},
		{0, "20.1.0.7", "20.1.0.7"},
		{time.Minute, "20.1.0.7", "20.1.0.0/24"},
		{time.Hour, "20.1.0.7", ""},
		{time.Hour, "20.1.0.8", ""},
		{time.Minute, "20.2.0.9", "20.2.0.0/16"},
		{1000 * time.Hour, "20.2.0.9", "20.2.0.0/16"},
	}
	for _, c := range cases {
		at(c.at)
		d := Decide(r, pub(c.ip), nil, DefaultTrusted)
		if d.Allow != (c.rule != "") || d.Rule != c.rule {
			t.Errorf("%s at +%v: %+v, want rule %q", c.ip, c.at, d, c.rule)
		}
	}
}
