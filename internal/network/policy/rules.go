// Package policy is the network access decision of SPEC 4 and 5: a pure
// function of a registry's compiled network rules, the request's network
// identity and, for the trusted-service bypass, its verified principal.
package policy

import (
	"net/netip"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netrule"
)

// Rules are a registry's network rules compiled for fast decisions. A Rules
// value is immutable once built; changes build a new one.
type Rules struct {
	publicDisabled bool
	defaultAllow   bool
	ip             *netrule.PrefixSet[ipRule] // prefix -> rule
	all            []prefixRule               // every IP rule, kept only when one expires
	subnets        map[string]string          // lower-cased subnet ID -> ID as configured
	approvedPEs    map[string]bool            // lower-cased private endpoint IDs with an Approved connection
	bypassServices bool                       // networkRuleBypassOptions AzureServices
	bypassTasks    bool                       // networkRuleBypassAllowedForTasks
	invalid        bool                       // the stored configuration could not be read: deny everything
}

// DenyAll is the rules of a registry whose configuration cannot be read:
// fail closed.
var DenyAll = &Rules{invalid: true, ip: netrule.NewPrefixSet[ipRule]()}

// ipRule is an IP rule's value as configured and its expiry (zero: none).
type ipRule struct {
	value   string
	expires time.Time
}

type prefixRule struct {
	prefix netip.Prefix
	ipRule
}

// clock is the decisions' time (tests move it).
var clock = time.Now

// Compile builds Rules from a registry's decoded properties and the IDs of
// the private endpoints whose connection to it is Approved. (Properties that
// cannot be decoded get DenyAll from their reader: fail closed.)
func Compile(p model.RegistryProperties, approvedPEs []string) *Rules {
	return CompileWith(p, approvedPEs, nil)
}

// CompileWith is Compile with the IP groups and IP sets that IP rules may
// name (netrule.ParseRef), expanded now: a rule naming one allows what it
// holds at compile time (none when it is unknown), and the decision reports
// the rule as written.
func CompileWith(p model.RegistryProperties, approvedPEs []string, sets netrule.Sets) *Rules {
	p = p.WithDefaults()
	r := &Rules{
		publicDisabled: strings.EqualFold(p.PublicNetworkAccess, "Disabled"),
		defaultAllow:   !strings.EqualFold(p.NetworkRuleSet.DefaultAction, "Deny"),
		ip:             netrule.NewPrefixSet[ipRule](),
		subnets:        map[string]string{},
		approvedPEs:    map[string]bool{},
		bypassServices: !strings.EqualFold(p.NetworkRuleBypassOptions, "None"),
		bypassTasks:    p.NetworkRuleBypassAllowedForTasks != nil && *p.NetworkRuleBypassAllowedForTasks,
	}
	var all []prefixRule
	expires := false
	for _, rule := range p.NetworkRuleSet.IPRules {
		ref, err := netrule.ParseRef(rule.Value)
		if err != nil {
			continue // validated on write; an unreadable rule allows nothing
		}
		ir := ipRule{value: rule.Value}
		if rule.ExpiresOn != nil {
			ir.expires, expires = *rule.ExpiresOn, true
		}
		for _, pfx := range ref.Prefixes(sets) {
			r.ip.Add(pfx, ir)
			all = append(all, prefixRule{pfx.Masked(), ir})
		}
	}
	if expires {
		r.all = all
	}
	for _, v := range p.NetworkRuleSet.VirtualNetworkRules {
		r.subnets[strings.ToLower(v.ID)] = v.ID
	}
	for _, pe := range approvedPEs {
		r.approvedPEs[strings.ToLower(pe)] = true
	}
	return r
}

// hasVNetRules: the trusted-service bypass does not apply to registries with
// virtual-network (service endpoint) rules.
func (r *Rules) hasVNetRules() bool { return len(r.subnets) > 0 }

// matchIP returns the IP rule that contains a. An expired rule matches
// nothing from its expiry on, on every node, whether or not the expiry
// sweeper has removed it yet (internal/server/expiry.go); until then the
// rule's address falls back to a scan for a longer-lived rule that holds it.
func (r *Rules) matchIP(a netip.Addr) (string, bool) {
	if !a.IsValid() {
		return "", false
	}
	a = a.Unmap()
	m, ok := r.ip.Lookup(a)
	if !ok {
		return "", false
	}
	if m.expires.IsZero() {
		return m.value, true
	}
	now := clock()
	if now.Before(m.expires) {
		return m.value, true
	}
	best := -1
	for _, e := range r.all {
		if e.prefix.Contains(a) && (e.expires.IsZero() || now.Before(e.expires)) && e.prefix.Bits() > best {
			best, m = e.prefix.Bits(), e.ipRule
		}
	}
	return m.value, best >= 0
}
