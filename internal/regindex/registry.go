package regindex

import (
	"encoding/json"
	"time"

	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Registry is one registry as the data plane sees it: the stored record and
// what is derived from it once, when the snapshot is built.
type Registry struct {
	*meta.Registry
	// Props are the properties, with defaults. When the stored properties
	// cannot be read, Props are the defaults of nothing (no anonymous pull, no
	// admin user) and Rules deny everyone: fail closed.
	Props model.RegistryProperties
	// Rules are the compiled network rules; Staged those of the staged
	// settings (shadow mode), nil when there are none.
	Rules, Staged *policy.Rules
	// ID is the ARM resource ID (the scope of role assignments).
	ID string
	// LoginServer is the host-style login server; "" in path style, where it
	// depends on the host the client used.
	LoginServer string
	// NextExpiry is the earliest expiry of its IP rules (zero: none expires);
	// the expiry sweeper (internal/network/ruleexpiry) looks no further.
	NextExpiry time.Time
}

func build(m *meta.Registry, approvedPEs []string, a addressing.Addressing, sets ipSets) *Registry {
	r := &Registry{Registry: m, ID: resid.RegistryID(m.Subscription, m.ResourceGroup, m.Name), LoginServer: a.LoginServer(m.Key)}
	var p model.RegistryProperties
	if len(m.Properties) > 0 && json.Unmarshal(m.Properties, &p) != nil {
		r.Props, r.Rules = model.RegistryProperties{}.WithDefaults(), policy.DenyAll
		return r
	}
	r.Props = p.WithDefaults()
	r.Rules = policy.CompileWith(r.Props, approvedPEs, sets)
	if sp, ok := r.Props.Staged(); ok {
		r.Staged = policy.CompileWith(sp.WithDefaults(), approvedPEs, sets)
	}
	for _, ip := range r.Props.NetworkRuleSet.IPRules {
		if e := ip.ExpiresOn; e != nil && (r.NextExpiry.IsZero() || e.Before(r.NextExpiry)) {
			r.NextExpiry = *e
		}
	}
	return r
}

// AnonymousPull reports whether anyone may pull without credentials.
func (r *Registry) AnonymousPull() bool {
	return r.Props.AnonymousPullEnabled != nil && *r.Props.AnonymousPullEnabled
}
