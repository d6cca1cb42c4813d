package policy

import (
	"strings"

	"github.com/moat-registry/moat/internal/network/netid"
)

// Reason kinds of a decision (SPEC 4).
const (
	ReasonPrivateEndpoint        = "private-endpoint"
	ReasonPrivateEndpointUnknown = "private-endpoint-not-approved"
	ReasonPublicAccessDisabled   = "public-access-disabled"
	ReasonDefaultAllow           = "default-allow"
	ReasonVirtualNetworkRule     = "virtual-network-rule"
	ReasonIPRule                 = "ip-rule"
	ReasonTrustedService         = "trusted-service"
	ReasonNoMatchingRule         = "no-matching-rule"
	ReasonInvalidConfiguration   = "invalid-configuration"
	ReasonNoNetworkIdentity      = "no-network-identity"
)

// Decision is the outcome and why: Reason is one of the Reason* kinds and
// Rule the rule that matched (IP rule value, subnet ID, endpoint ID or
// trusted service type), if any.
type Decision struct {
	Allow  bool
	Reason string
	Rule   string
}

// String is "<reason> <rule>" as SPEC 4 writes reasons.
func (d Decision) String() string {
	if d.Rule == "" {
		return d.Reason
	}
	return d.Reason + " " + d.Rule
}

// Principal is what the bypass needs to know of a verified caller.
type Principal struct {
	// SystemAssigned is true for a system-assigned managed identity.
	SystemAssigned bool
	// ServiceType is the resource type of the service instance that owns it.
	ServiceType string
}

// TrustedServices are the service types whose system-assigned identities may
// bypass network rules (SPEC 5); Tasks is the type that
// networkRuleBypassAllowedForTasks lets through even with bypass None.
type TrustedServices struct {
	Types []string
	Tasks string
}

// DefaultTrusted are SPEC 5's defaults.
var DefaultTrusted = TrustedServices{
	Types: []string{
		"Microsoft.ContainerRegistry/registries/tasks",
		"Microsoft.ContainerRegistry/registries",
		"Microsoft.MachineLearningServices/workspaces",
	},
	Tasks: "Microsoft.ContainerRegistry/registries/tasks",
}

// TrustedFrom is the trusted services of the operator's trustedServices list
// (empty: the defaults). A registry's networkRuleBypassAllowedForTasks lets
// task identities through only while the list names the task type: the
// operator's list wins over a registry's setting.
func TrustedFrom(types []string) TrustedServices {
	if len(types) == 0 {
		return DefaultTrusted
	}
	t := TrustedServices{Types: types}
	for _, typ := range types {
		if strings.EqualFold(typ, DefaultTrusted.Tasks) {
			t.Tasks = DefaultTrusted.Tasks
		}
	}
	return t
}

// Decide is the access decision of SPEC 4 for one request. p is the verified
// principal, or nil before authentication.
func Decide(r *Rules, id netid.Identity, p *Principal, trusted TrustedServices) Decision {
	if r == nil || r.invalid {
		return Decision{Reason: ReasonInvalidConfiguration}
	}
	// 1. A private endpoint admits exactly what its approved connection allows.
	if id.Path == netid.PrivateEndpoint {
		if r.approvedPEs[id.PrivateEndpoint] { // netid lower-cases resource IDs
			return Decision{Allow: true, Reason: ReasonPrivateEndpoint, Rule: id.PrivateEndpoint}
		}
		return Decision{Reason: ReasonPrivateEndpointUnknown, Rule: id.PrivateEndpoint}
	}
	d := decidePublic(r, id)
	if d.Allow {
		return d
	}
	// 6. Trusted services pass steps 2-5.
	if t, ok := bypass(r, p, trusted); ok {
		return Decision{Allow: true, Reason: ReasonTrustedService, Rule: t}
	}
	return d
}

// decidePublic is steps 2-5 and 7.
func decidePublic(r *Rules, id netid.Identity) Decision {
	if r.publicDisabled {
		return Decision{Reason: ReasonPublicAccessDisabled}
	}
	if r.defaultAllow {
		return Decision{Allow: true, Reason: ReasonDefaultAllow}
	}
	if id.Path == netid.ServiceEndpoint {
		if rule, ok := r.subnets[id.Subnet]; ok {
			return Decision{Allow: true, Reason: ReasonVirtualNetworkRule, Rule: rule}
		}
	}
	if rule, ok := r.matchIP(id.ClientIP); ok {
		return Decision{Allow: true, Reason: ReasonIPRule, Rule: rule}
	}
	return Decision{Reason: ReasonNoMatchingRule}
}

// bypass returns the trusted service type that lets p through, if any.
func bypass(r *Rules, p *Principal, trusted TrustedServices) (string, bool) {
	if p == nil || !p.SystemAssigned || r.hasVNetRules() {
		return "", false
	}
	isTrusted := false
	for _, t := range trusted.Types {
		if strings.EqualFold(t, p.ServiceType) {
			isTrusted = true
		}
	}
	switch {
	case isTrusted && r.bypassServices:
		return p.ServiceType, true
	case r.bypassTasks && trusted.Tasks != "" && strings.EqualFold(p.ServiceType, trusted.Tasks):
		return p.ServiceType, true
	}
	return "", false
}

// NeedsPrincipal reports whether a denied decision could still turn into an
// allow for a trusted service, i.e. whether it is worth verifying the caller.
func NeedsPrincipal(r *Rules, d Decision) bool {
	return !d.Allow && r != nil && !r.invalid && !r.hasVNetRules() &&
		d.Reason != ReasonPrivateEndpointUnknown && (r.bypassServices || r.bypassTasks)
}
