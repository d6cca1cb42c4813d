package model

import (
	"encoding/json"
	"strings"
	"time"
)

// UnmarshalJSON notes whether expiresOn was sent (ExpirySent).
func (r *IPRule) UnmarshalJSON(b []byte) error {
	type plain IPRule
	var in plain
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	var members map[string]json.RawMessage
	_ = json.Unmarshal(b, &members)
	for k := range members {
		in.ExpirySent = in.ExpirySent || strings.EqualFold(k, "expiresOn")
	}
	*r = IPRule(in)
	return nil
}

// Expired reports whether the rule has expired at t.
func (r IPRule) Expired(t time.Time) bool { return r.ExpiresOn != nil && !t.Before(*r.ExpiresOn) }

// NetworkSettings is the network part of stored registry properties, as the
// audit trail records a change's before and after.
func NetworkSettings(props json.RawMessage) json.RawMessage {
	var p struct {
		NetworkRuleSet           json.RawMessage `json:"networkRuleSet,omitempty"`
		PublicNetworkAccess      json.RawMessage `json:"publicNetworkAccess,omitempty"`
		NetworkRuleBypassOptions json.RawMessage `json:"networkRuleBypassOptions,omitempty"`
		StagedNetworkAccess      json.RawMessage `json:"stagedNetworkAccess,omitempty"`
	}
	_ = json.Unmarshal(props, &p)
	b, _ := json.Marshal(p)
	return b
}

// TypeIPGroup is the resource type of IP groups.
const TypeIPGroup = "Microsoft.Network/ipGroups"

// IPGroup is Microsoft.Network/ipGroups: a named set of addresses and
// prefixes that registries' IP rules name by its ID.
type IPGroup struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Etag       string            `json:"etag,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties IPGroupProperties `json:"properties"`
}

// IPGroupProperties: IPAddresses are written; the rest is read-only.
type IPGroupProperties struct {
	IPAddresses       []string      `json:"ipAddresses"`
	ProvisioningState string        `json:"provisioningState,omitempty"`
	Firewalls         []SubResource `json:"firewalls"`
	FirewallPolicies  []SubResource `json:"firewallPolicies"`
}
