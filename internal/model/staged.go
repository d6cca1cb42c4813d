package model

import "time"

// NetworkAccess are a registry's network settings as a staged set holds
// them. Members not given are those of the registry's enforced settings.
type NetworkAccess struct {
	PublicNetworkAccess              string          `json:"publicNetworkAccess,omitempty"`
	NetworkRuleSet                   *NetworkRuleSet `json:"networkRuleSet,omitempty"`
	NetworkRuleBypassOptions         string          `json:"networkRuleBypassOptions,omitempty"`
	NetworkRuleBypassAllowedForTasks *bool           `json:"networkRuleBypassAllowedForTasks,omitempty"`
	// StagedOn is when the set was staged (read-only).
	StagedOn *time.Time `json:"stagedOn,omitempty"`
}

// Over returns p with the settings of a in place of its own (members a does
// not give stay p's) and no staged set.
func (a NetworkAccess) Over(p RegistryProperties) RegistryProperties {
	if a.PublicNetworkAccess != "" {
		p.PublicNetworkAccess = a.PublicNetworkAccess
	}
	if a.NetworkRuleSet != nil {
		p.NetworkRuleSet = a.NetworkRuleSet
	}
	if a.NetworkRuleBypassOptions != "" {
		p.NetworkRuleBypassOptions = a.NetworkRuleBypassOptions
	}
	if a.NetworkRuleBypassAllowedForTasks != nil {
		p.NetworkRuleBypassAllowedForTasks = a.NetworkRuleBypassAllowedForTasks
	}
	p.StagedNetworkAccess = nil
	return p
}

// AccessOf is the network settings of p, complete.
func AccessOf(p RegistryProperties) NetworkAccess {
	return NetworkAccess{PublicNetworkAccess: p.PublicNetworkAccess, NetworkRuleSet: p.NetworkRuleSet,
		NetworkRuleBypassOptions: p.NetworkRuleBypassOptions, NetworkRuleBypassAllowedForTasks: p.NetworkRuleBypassAllowedForTasks}
}

// Staged is the registry's properties with its staged settings in force,
// if it has any.
func (p RegistryProperties) Staged() (RegistryProperties, bool) {
	if p.StagedNetworkAccess == nil {
		return p, false
	}
	return p.StagedNetworkAccess.Over(p), true
}
