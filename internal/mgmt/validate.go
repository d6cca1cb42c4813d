package mgmt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netrule"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/store/meta"
)

// enum returns the canonical spelling of v among allowed (case-insensitive).
func enum(field, v string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return a, nil
		}
	}
	return "", badRequest("InvalidParameter", "%s %q is invalid: use %s", field, v, strings.Join(allowed, " or "))
}

// validateRegistry checks and canonicalises the properties a registry is to
// have (SPEC 2). existing is nil when the registry is being created.
func (h *Handler) validateRegistry(ctx context.Context, existing *meta.Registry, sku string, p *RegistryProperties) error {
	cur := RegistryProperties{}.WithDefaults()
	if existing != nil {
		var err error
		if cur, err = decodeProps(existing); err != nil {
			return err
		}
	}
	if err := h.validateNetwork(ctx, existing, sku, p, cur); err != nil {
		return err
	}
	if err := checkRetention(existing, sku, p); err != nil {
		return err
	}
	return h.validateStaged(ctx, existing, sku, p, cur)
}

// validateStaged checks a staged network set (shadow mode) as the settings
// it would make if promoted, and stores it complete and canonical, with
// when it was staged (kept while it stays the same).
func (h *Handler) validateStaged(ctx context.Context, existing *meta.Registry, sku string, p *RegistryProperties, cur RegistryProperties) error {
	if p.StagedNetworkAccess == nil {
		return nil
	}
	old := cur
	if s, ok := cur.Staged(); ok {
		old = s.WithDefaults()
	}
	sp := p.StagedNetworkAccess.Over(*p).WithDefaults()
	rs := *sp.NetworkRuleSet
	sp.NetworkRuleSet = &rs
	if err := h.validateNetwork(ctx, existing, sku, &sp, old); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return &Error{Status: e.Status, Code: e.Code, Message: "stagedNetworkAccess: " + e.Message}
		}
		return err
	}
	a := model.AccessOf(sp)
	now := time.Now().UTC().Truncate(time.Second)
	a.StagedOn = &now
	if prev := cur.StagedNetworkAccess; prev != nil && prev.StagedOn != nil {
		x, y := *prev, a
		x.StagedOn, y.StagedOn = nil, nil
		if bx, by := mustJSON(x), mustJSON(y); bytes.Equal(bx, by) {
			a.StagedOn = prev.StagedOn
		}
	}
	p.StagedNetworkAccess = &a
	return nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// validateNetwork checks and canonicalises a registry's network settings
// against cur, the settings they replace.
func (h *Handler) validateNetwork(ctx context.Context, existing *meta.Registry, sku string, p *RegistryProperties, cur RegistryProperties) error {
	var err error
	rs := p.NetworkRuleSet
	if p.PublicNetworkAccess, err = enum("publicNetworkAccess", p.PublicNetworkAccess, "Enabled", "Disabled"); err != nil {
		return err
	}
	if p.NetworkRuleBypassOptions, err = enum("networkRuleBypassOptions", p.NetworkRuleBypassOptions, "AzureServices", "None"); err != nil {
		return err
	}
	if rs.DefaultAction, err = enum("networkRuleSet.defaultAction", rs.DefaultAction, "Allow", "Deny"); err != nil {
		return err
	}
	if err := h.checkSKU(ctx, existing, sku, p); err != nil {
		return err
	}
	if rs.IPRules, err = h.checkIPRules(ctx, rs.IPRules, cur.NetworkRuleSet.IPRules, sku, time.Now()); err != nil {
		return err
	}
	if rs.VirtualNetworkRules, err = h.checkVNetRules(ctx, rs.VirtualNetworkRules, cur.NetworkRuleSet.VirtualNetworkRules, sku); err != nil {
		return err
	}
	if len(rs.VirtualNetworkRules) > 0 && existing != nil {
		pecs, err := h.registryConnections(ctx, registryIDOf(existing))
		if err != nil {
			return err
		}
		if len(pecs) > 0 {
			return badRequest("NetworkRuleValidationError",
				"a registry cannot use private endpoints and virtual-network (service endpoint) rules at the same time: it has %d private endpoint connection(s); delete them or use private endpoints only", len(pecs))
		}
	}
	return nil
}

func registryIDOf(reg *meta.Registry) string {
	return resid.RegistryID(reg.Subscription, reg.ResourceGroup, reg.Name)
}

// checkSKU refuses what only Premium supports on Basic and Standard, and with
// it a downgrade that would silently drop network settings.
func (h *Handler) checkSKU(ctx context.Context, existing *meta.Registry, sku string, p *RegistryProperties) error {
	fix := "use the Premium SKU (moat acr update --name <registry> --sku Premium)"
	if sku == "Premium" {
		return nil
	}
	rs := p.NetworkRuleSet
	if len(rs.IPRules) > 0 || len(rs.VirtualNetworkRules) > 0 || rs.DefaultAction == "Deny" {
		return badRequest("NetworkRuleNotSupported",
			"network rules (default action Deny, IP rules, virtual-network rules) are not supported for the SKU %s; %s, or remove the rules and set --default-action Allow first", sku, fix)
	}
	if p.PublicNetworkAccess == "Disabled" {
		return badRequest("DisablingPublicNetworkAccessNotSupported",
			"disabling public network access is not supported for the SKU %s; %s, or enable public network access first", sku, fix)
	}
	if p.AnonymousPullEnabled != nil && *p.AnonymousPullEnabled && sku == "Basic" {
		return badRequest("AnonymousPullNotSupported", "anonymous pull is not supported for the SKU Basic; use Standard or Premium")
	}
	if existing != nil {
		pecs, err := h.registryConnections(ctx, registryIDOf(existing))
		if err != nil {
			return err
		}
		if len(pecs) > 0 {
			return badRequest("PrivateEndpointNotSupported",
				"private endpoints are not supported for the SKU %s and the registry has %d private endpoint connection(s); delete them before changing the SKU", sku, len(pecs))
		}
	}
	return nil
}

// checkIPRules validates, canonicalises and de-duplicates IP rules. A rule
// sent without expiresOn keeps the expiry its value had in old (a client
// that does not know the member must not make a temporary rule permanent by
// writing the rule set back), and so does one sent back with its stored
// expiry; such a carried expiry that has passed drops the rule. A new
// expiresOn must be in the future. Of duplicates, the one
// that lasts longer wins.
func (h *Handler) checkIPRules(ctx context.Context, in, old []IPRule, sku string, now time.Time) ([]IPRule, error) {
	had := map[string]*time.Time{}
	for _, r := range old {
		if ref, err := netrule.ParseRef(r.Value); err == nil {
			had[ref.Value] = r.ExpiresOn
		}
	}
	expanded := 0
	out := []IPRule{}
	at := map[string]int{}
	for _, r := range in {
		if r.Action != "" && !strings.EqualFold(r.Action, "Allow") {
			return nil, badRequest("InvalidParameter", "IP rule action %q is invalid: only Allow is supported", r.Action)
		}
		ref, _ := netrule.ParseRef(r.Value)
		_, known := had[ref.Value]
		v, ps, err := h.ruleExpansion(ctx, r.Value, known)
		if err != nil {
			return nil, err
		}
		exp, prev := r.ExpiresOn, had[v]
		switch {
		case !r.ExpirySent || (exp != nil && prev != nil && exp.Equal(*prev)):
			// Carried over (a merge patch also sends back what it read).
			if exp = prev; exp != nil && !exp.After(now) {
				continue // it expired; the client wrote back what it read before
			}
		case exp != nil && !exp.After(now):
			return nil, badRequest("InvalidIpRule", "IP rule %s: expiresOn %s is not in the future; give a later time, or leave expiresOn out for a rule that does not expire", v, exp.UTC().Format(time.RFC3339))
		}
		if exp != nil {
			t := exp.UTC()
			exp = &t
		}
		if i, ok := at[v]; ok {
			if out[i].ExpiresOn != nil && (exp == nil || exp.After(*out[i].ExpiresOn)) {
				out[i].ExpiresOn = exp
			}
			continue
		}
		at[v] = len(out)
		out = append(out, IPRule{Action: "Allow", Value: v, ExpiresOn: exp})
		expanded += len(ps)
	}
	if expanded > h.Limits.IPRules {
		return nil, badRequest("NetworkRuleQuotaExceeded", "the number of IP rules (%d) exceeds allowed quota %d for the SKU %s (each address and prefix of an IP group or IP set a rule names counts as one)", expanded, h.Limits.IPRules, sku)
	}
	return out, nil
}

// checkVNetRules validates newly added virtual-network rules: the subnet must
// exist, carry the Microsoft.ContainerRegistry service endpoint, and belong to
// a subscription that registered the provider. Rules the registry already
// had are kept as they are even if their subnet changed since (SPEC 2).
func (h *Handler) checkVNetRules(ctx context.Context, in, old []VirtualNetworkRule, sku string) ([]VirtualNetworkRule, error) {
	had := map[string]bool{}
	for _, r := range old {
		had[strings.ToLower(r.ID)] = true
	}
	out := []VirtualNetworkRule{}
	seen := map[string]bool{}
	for _, r := range in {
		if r.Action != "" && !strings.EqualFold(r.Action, "Allow") {
			return nil, badRequest("InvalidParameter", "virtual-network rule action %q is invalid: only Allow is supported", r.Action)
		}
		key := strings.ToLower(r.ID)
		if seen[key] {
			continue
		}
		seen[key] = true
		if !had[key] {
			if err := h.checkRuleSubnet(ctx, r.ID); err != nil {
				return nil, err
			}
		}
		out = append(out, VirtualNetworkRule{Action: "Allow", ID: r.ID})
	}
	if len(out) > h.Limits.VirtualNetworkRules {
		return nil, badRequest("NetworkRuleQuotaExceeded", "the number of virtual network rules (%d) exceeds allowed quota %d for the SKU %s", len(out), h.Limits.VirtualNetworkRules, sku)
	}
	return out, nil
}

func (h *Handler) checkRuleSubnet(ctx context.Context, raw string) error {
	subnetID, ok := linkedID(raw, "Microsoft.Network", "virtualNetworks", "subnets")
	if !ok {
		return badRequest("InvalidParameter", "virtual-network rule %q is not a subnet resource ID (/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Network/virtualNetworks/{v}/subnets/{subnet})", raw)
	}
	// Naming a subnet in a rule lets its traffic in: that needs the right to
	// join the subnet, as in the cloud — checked before the subnet is read.
	if err := h.requireLinked(ctx, "networkRuleSet.virtualNetworkRules[].id", subnetID, rbac.ActionJoinSubnet); err != nil {
		return err
	}
	id, _ := resid.Parse(subnetID)
	vnet, subnet := id.Names[0], id.Names[1]
	var s Subnet
	_, ok, err := h.load(ctx, subnetID, &s)
	if err != nil {
		return err
	}
	if !ok {
		return badRequest("NetworkRuleValidationError", "subnet %s of virtual network %s does not exist; create it with 'moat network vnet subnet create'", subnet, vnet)
	}
	if !hasRegistryEndpoint(s) {
		return badRequest("NetworkRuleValidationError",
			"Subnets %s of virtual network %s do not have ServiceEndpoints for Microsoft.ContainerRegistry resources configured. Add Microsoft.ContainerRegistry to subnet's ServiceEndpoints collection before trying to ACL Microsoft.ContainerRegistry resources to these subnets.", subnet, vnet)
	}
	ok, err = h.registered(ctx, id.Subscription, "Microsoft.ContainerRegistry")
	if err != nil {
		return err
	}
	if !ok {
		return badRequest("NetworkRuleValidationError",
			"the subscription %s of subnet %s is not registered for Microsoft.ContainerRegistry; run 'moat provider register --namespace Microsoft.ContainerRegistry --subscription %s'", id.Subscription, subnet, id.Subscription)
	}
	return nil
}

func hasRegistryEndpoint(s Subnet) bool {
	for _, e := range s.Properties.ServiceEndpoints {
		if strings.EqualFold(e.Service, "Microsoft.ContainerRegistry") {
			return true
		}
	}
	return false
}
