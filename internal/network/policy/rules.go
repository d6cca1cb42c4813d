// Package policy is the network access decision of SPEC 4 and 5: a pure
// function of a registry's compiled network rules, the request's network
// identity and, for the trusted-service bypass, its verified principal.
package policy

import (
	"net/netip"
	"strings"

	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netrule"
)

// Rules are a registry's network rules compiled for fast decisions. A Rules
// value is immutable once built; changes build a new one.
type Rules struct {
	publicDisabled bool
	defaultAllow   bool
	ip             *netrule.PrefixSet[string] // prefix -> rule value as configured
	subnets        map[string]string          // lower-cased subnet ID -> ID as configured
	approvedPEs    map[string]bool            // lower-cased private endpoint IDs with an Approved connection
	bypassServices bool                       // networkRuleBypassOptions AzureServices
	bypassTasks    bool                       // networkRuleBypassAllowedForTasks
	invalid        bool                       // the stored configuration could not be read: deny everything
}

// DenyAll is the rules of a registry whose configuration cannot be read:
// fail closed.
var DenyAll = &Rules{invalid: true, ip: netrule.NewPrefixSet[string]()}

// Compile builds Rules from a registry's decoded properties and the IDs of
// the private endpoints whose connection to it is Approved. (Properties that
// cannot be decoded get DenyAll from their reader: fail closed.)
func Compile(p model.RegistryProperties, approvedPEs []string) *Rules {
	p = p.WithDefaults()
	r := &Rules{
		publicDisabled: strings.EqualFold(p.PublicNetworkAccess, "Disabled"),
		defaultAllow:   !strings.EqualFold(p.NetworkRuleSet.DefaultAction, "Deny"),
		ip:             netrule.NewPrefixSet[string](),
		subnets:        map[string]string{},
		approvedPEs:    map[string]bool{},
		bypassServices: !strings.EqualFold(p.NetworkRuleBypassOptions, "None"),
		bypassTasks:    p.NetworkRuleBypassAllowedForTasks != nil && *p.NetworkRuleBypassAllowedForTasks,
	}
	for _, rule := range p.NetworkRuleSet.IPRules {
		pfx, err := netrule.ParseIPRule(rule.Value)
		if err != nil {
			continue // validated on write; an unreadable rule allows nothing
		}
		r.ip.Add(pfx, rule.Value)
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

// matchIP returns the IP rule that contains a.
func (r *Rules) matchIP(a netip.Addr) (string, bool) {
	if !a.IsValid() {
		return "", false
	}
	return r.ip.Lookup(a.Unmap())
}
