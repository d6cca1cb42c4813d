package mgmt

import (
	"context"
	"net/netip"
	"strings"

	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netrule"
)

const typeIPGroup = model.TypeIPGroup

// maxIPGroupEntries is the most addresses and prefixes one IP group holds
// (Azure's limit per group).
const maxIPGroupEntries = 5000

func ipGroupID(sub, rg, name string) string {
	return groupID(sub, rg) + "/providers/" + typeIPGroup + "/" + name
}

// ipGroups is Microsoft.Network/ipGroups: a named set of addresses and
// prefixes that registries' IP rules name by ID. Its entries must be what an
// IP rule may hold (public addresses and prefixes), since registries use
// them as rules; a change reaches every registry naming it at the next
// request (the registry snapshot expands groups when it is built). A group
// that a registry's rule names cannot be deleted.
var ipGroups = &kind[model.IPGroup]{
	typ: typeIPGroup, what: "IP group",
	load: func(c *call) (model.IPGroup, int64, bool, error) {
		return loadDoc[model.IPGroup](c, ipGroupID(c.id.Subscription, c.id.ResourceGroup, c.id.Name()))
	},
	list: func(c *call) ([]listed[model.IPGroup], error) {
		return listDocs(c, typeIPGroup, scopePrefix(c.id), func(g *model.IPGroup) string { return g.ID })
	},
	render: func(_ *call, g model.IPGroup, _ int64) (any, error) { return g, nil },
	put:    putIPGroup,
	remove: removeIPGroup,
}

func putIPGroup(c *call, cur *model.IPGroup, version int64, body []byte) (model.IPGroup, int64, error) {
	var in model.IPGroup
	if err := decodeBody(body, &in); err != nil {
		return in, 0, err
	}
	name := c.id.Name()
	if !validGroupName(name) {
		return in, 0, badRequest("InvalidResourceName", "IP group name %q is invalid: use letters, digits, '-', '_' and '.'", name)
	}
	if err := c.h.requireRegistered(c.ctx, c.id.Subscription, "Microsoft.Network"); err != nil {
		return in, 0, err
	}
	addrs, err := ipGroupEntries(in.Properties.IPAddresses)
	if err != nil {
		return in, 0, err
	}
	if cur != nil {
		if err := c.h.checkGroupQuota(c.ctx, cur.ID, len(addrs)); err != nil {
			return in, 0, err
		}
	}
	g := model.IPGroup{ID: ipGroupID(c.id.Subscription, c.id.ResourceGroup, name), Name: name, Type: typeIPGroup,
		Location: c.h.location(in.Location), Tags: in.Tags}
	if cur != nil {
		g.ID, g.Name, g.Location = cur.ID, cur.Name, cur.Location
	}
	g.Properties = model.IPGroupProperties{IPAddresses: addrs, ProvisioningState: "Succeeded",
		Firewalls: []model.SubResource{}, FirewallPolicies: []model.SubResource{}}
	version, err = c.h.save(c.ctx, g.ID, typeIPGroup, g, version)
	return g, version, err
}

// ipGroupEntries validates and canonicalises an IP group's entries.
func ipGroupEntries(in []string) ([]string, error) {
	if len(in) > maxIPGroupEntries {
		return nil, badRequest("IpGroupTooManyIpAddresses", "an IP group holds at most %d addresses and prefixes; this one has %d", maxIPGroupEntries, len(in))
	}
	out := []string{}
	seen := map[string]bool{}
	for _, a := range in {
		p, err := netrule.ParseIPRule(a)
		if err != nil {
			return nil, badRequest("InvalidIpAddressInIpGroup", "properties.ipAddresses: %v; registries use IP groups as IP rules", err)
		}
		if v := netrule.FormatIPRule(p); !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, nil
}

func removeIPGroup(c *call, g model.IPGroup) error {
	users, err := c.h.groupUsers(c.ctx, g.ID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		r := users[0].Name
		return badRequest("InUseIpGroupCannotBeDeleted", "IP group %s is named by an IP rule of registry %s; remove the rule first (moat acr network-rule remove --name %s --ip-address %s)", g.Name, r, r, g.ID)
	}
	return c.h.Meta.DeleteResource(c.ctx, g.ID)
}

// groupUser is a registry whose IP rules name an IP group.
type groupUser struct {
	Name  string
	Rules []model.IPRule
}

// groupUsers are the registries whose IP rules name the group id.
func (h *Handler) groupUsers(ctx context.Context, id string) ([]groupUser, error) {
	key := strings.ToLower(id)
	regs, err := h.Meta.ListRegistries(ctx)
	if err != nil {
		return nil, err
	}
	var out []groupUser
	for _, r := range regs {
		p, err := decodeProps(r)
		if err != nil {
			continue
		}
		for _, rule := range p.NetworkRuleSet.IPRules {
			if ref, err := netrule.ParseRef(rule.Value); err == nil && ref.Kind == netrule.RefIPGroup && ref.Key == key {
				out = append(out, groupUser{Name: r.Name, Rules: p.NetworkRuleSet.IPRules})
				break
			}
		}
	}
	return out, nil
}

// checkGroupQuota refuses a change of IP group id to n entries that would
// take a registry naming it over its IP rule quota (rules count by what
// they expand to).
func (h *Handler) checkGroupQuota(ctx context.Context, id string, n int) error {
	users, err := h.groupUsers(ctx, id)
	if err != nil {
		return err
	}
	key := strings.ToLower(id)
	for _, u := range users {
		total := 0
		for _, rule := range u.Rules {
			if ref, err := netrule.ParseRef(rule.Value); err == nil && ref.Key == key {
				total += n
				continue
			}
			if _, ps, err := h.ruleExpansion(ctx, rule.Value, true); err == nil {
				total += len(ps)
			}
		}
		if total > h.Limits.IPRules {
			return badRequest("NetworkRuleQuotaExceeded", "with %d entries, IP group %s would give registry %s %d IP rules, over its quota of %d (each address and prefix of a group its rules name counts as one)", n, id, u.Name, total, h.Limits.IPRules)
		}
	}
	return nil
}

// ruleExpansion resolves an IP rule's value: its canonical text and the
// prefixes it stands for. Naming an IP group needs the right to join it
// (checked before it is read, as for subnets) and the group must exist; an
// IP set must be one the server configuration defines.
func (h *Handler) ruleExpansion(ctx context.Context, value string, known bool) (string, []netip.Prefix, error) {
	ref, err := netrule.ParseRef(value)
	if err != nil {
		return "", nil, badRequest("InvalidIpRule", "invalid IP rule: %v; or name an IP group by its ID, or an IP set of the server configuration by its name", err)
	}
	switch ref.Kind {
	case netrule.RefIPGroup:
		if !known {
			if err := h.requireLinked(ctx, "networkRuleSet.ipRules[].value", ref.Value, rbac.ActionJoinIPGroup); err != nil {
				return "", nil, err
			}
		}
		var g model.IPGroup
		_, ok, err := h.load(ctx, ref.Value, &g)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			return "", nil, badRequest("InvalidIpRule", "IP group %s does not exist; create it with 'moat network ip-group create'", ref.Value)
		}
		var ps []netip.Prefix
		for _, a := range g.Properties.IPAddresses {
			if p, err := netrule.ParseIPRule(a); err == nil {
				ps = append(ps, p)
			}
		}
		return ref.Value, ps, nil
	case netrule.RefIPSet:
		ps, ok := h.IPSets[ref.Key]
		if !ok {
			return "", nil, badRequest("InvalidIpRule", "%q is not a valid IP address or CIDR prefix, nor an IP set of the server configuration (ipSets: in its config file), nor an IP group ID", value)
		}
		return ref.Value, ps, nil
	}
	return ref.Value, []netip.Prefix{ref.Prefix}, nil
}
