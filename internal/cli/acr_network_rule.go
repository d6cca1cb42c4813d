package cli

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/resid"
	"github.com/spf13/cobra"
)

func newNetworkRule() *cobra.Command {
	return parent("network-rule", "Manage the network rules of a container registry (Premium)",
		networkRuleChange("add"), networkRuleChange("remove"), networkRuleList(), networkRuleCheck(), networkRuleDenials(), newNetworkRuleStaged())
}

func networkRuleFlags(cmd *cobra.Command) {
	registryNameFlag(cmd)
	cmd.Flags().String("ip-address", "", "IPv4 or IPv6 address or CIDR range")
	cmd.Flags().String("subnet", "", "ID of a subnet, or its name with --vnet-name")
	cmd.Flags().String("vnet-name", "", "name of the virtual network of --subnet NAME")
}

// networkRuleTable lists the rules one per line (az has no table for these).
var networkRuleTable tableFunc = func(v any) []row {
	var rows []row
	for _, r := range objects(dig(v, "ipRules")) {
		rows = append(rows, row{{"Type", "IP"}, {"Action", str(r, "action")}, {"Value", str(r, "ipAddressOrRange")}, {"ExpiresOn", str(r, "expiresOn")}})
	}
	for _, r := range objects(dig(v, "virtualNetworkRules")) {
		rows = append(rows, row{{"Type", "VirtualNetwork"}, {"Action", str(r, "action")}, {"Value", str(r, "virtualNetworkResourceId")}, {"ExpiresOn", ""}})
	}
	return rows
}

func networkRuleList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List the IP and virtual-network rules of a container registry",
		group: true, required: []string{"name/-n"},
		flags: registryNameFlag,
		table: networkRuleTable,
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			reg, _, err := x.c.get(p)
			if err != nil {
				return nil, err
			}
			nrs := ruleSetView(reg)
			return object{"ipRules": nrs["ipRules"], "virtualNetworkRules": nrs["virtualNetworkRules"]}, nil
		},
	})
}

// ruleSetView is a registry's networkRuleSet as az prints it.
func ruleSetView(reg object) object {
	nrs := ruleSet(reg)
	return object{
		"defaultAction":       nrs["defaultAction"],
		"ipRules":             ipRulesView(nrs["ipRules"]),
		"virtualNetworkRules": vnetRulesView(nrs["virtualNetworkRules"]),
	}
}

// networkRuleChange is `acr network-rule add` or `remove`: read the registry,
// change its networkRuleSet, PATCH it back whole. The answer is az's:
// {name, provisioningState, networkRuleSet}.
func networkRuleChange(verb string) *cobra.Command {
	short := "Add a network rule to a container registry"
	if verb == "remove" {
		short = "Remove a network rule from a container registry"
	}
	return leaf(spec{
		use: verb, short: short,
		example: "  moat acr network-rule " + verb + " --name myregistry --ip-address 16.17.18.0/24\n" +
			"  moat acr network-rule " + verb + " --name myregistry --subnet /subscriptions/.../virtualNetworks/myvnet/subnets/mysubnet" +
			map[string]string{"add": "\n  moat acr network-rule add --name myregistry --ip-address 16.17.18.19 --expires-in 1h"}[verb],
		group: true, required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			networkRuleFlags(cmd)
			if verb == "add" {
				cmd.Flags().String("expires-in", "", "the IP rule expires after this long (30m, 2h, 72h): it stops matching then and is removed")
			}
		},
		run: func(x *exec) (any, error) {
			ip := x.str("ip-address")
			if ip == "" && x.str("subnet") == "" && x.str("vnet-name") == "" {
				return nil, fmt.Errorf("usage error: --ip-address ADDRESS | --subnet ID | --subnet NAME --vnet-name NAME")
			}
			expires, err := expiresIn(x.str("expires-in"), ip)
			if err != nil {
				return nil, err
			}
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			subnet := ""
			if x.str("subnet") != "" || x.str("vnet-name") != "" {
				if subnet, err = x.subnetID(groupOf(p)); err != nil {
					return nil, err
				}
			}
			out, err := x.modify(http.MethodPatch, p, func(reg object) (any, error) {
				nrs := ruleSet(reg)
				var changed bool
				if verb == "add" {
					changed = addRules(nrs, ip, subnet, expires)
					if expires != "" && !changed && ipRuleOf(nrs, ip) != nil && ipRuleOf(nrs, ip)["expiresOn"] == nil {
						x.warn("registry %s has the IP rule %s without an expiry; it keeps none (remove it first for one that expires)", str(reg, "name"), ip)
					}
				} else {
					changed = removeRules(nrs, ip, subnet)
					if !changed {
						x.warn("registry %s has no such rule; nothing was removed", str(reg, "name"))
					}
				}
				if !changed {
					return nil, nil
				}
				return object{"properties": object{"networkRuleSet": nrs}}, nil
			})
			if err != nil {
				return nil, err
			}
			return object{"name": out["name"], "provisioningState": dig(out, "properties", "provisioningState"), "networkRuleSet": ruleSetView(out)}, nil
		},
	})
}

// expiresIn is the expiresOn of --expires-in d from now ("" without it).
func expiresIn(d, ip string) (string, error) {
	if d == "" {
		return "", nil
	}
	if ip == "" {
		return "", fmt.Errorf("usage error: --expires-in applies to IP rules: give --ip-address")
	}
	dur, err := time.ParseDuration(d)
	if err != nil || dur <= 0 {
		return "", fmt.Errorf("--expires-in %q is not a positive duration: write it as 30m, 2h or 72h", d)
	}
	return time.Now().Add(dur).UTC().Format(time.RFC3339), nil
}

// ipRuleOf is the IP rule of nrs (REST shape) with the value ip, if any.
func ipRuleOf(nrs object, ip string) object {
	for _, r := range objects(nrs["ipRules"]) {
		if sameIP(str(r, "value"), ip) {
			return r
		}
	}
	return nil
}

// addRules adds the rules to nrs (REST shape) unless they are there
// already; an IP rule that is there with an earlier expiry gets expires
// (RFC 3339, "" for none) when that is later: a rule lasts as long as the
// longest-lived request for it, and one without an expiry stays so.
func addRules(nrs object, ip, subnet, expires string) bool {
	changed := false
	if ip != "" {
		r := ipRuleOf(nrs, ip)
		switch {
		case r == nil:
			r = object{"action": "Allow", "value": ip}
			if expires != "" {
				r["expiresOn"] = expires
			}
			nrs["ipRules"] = append(nrs["ipRules"].([]any), r)
			changed = true
		case expires != "" && str(r, "expiresOn") != "" && laterThan(expires, str(r, "expiresOn")):
			r["expiresOn"] = expires
			changed = true
		}
	}
	if subnet != "" && !hasRule(nrs["virtualNetworkRules"], "id", subnet, sameID) {
		nrs["virtualNetworkRules"] = append(nrs["virtualNetworkRules"].([]any), object{"action": "Allow", "id": subnet})
		changed = true
	}
	return changed
}

// removeRules removes the matching rules from nrs.
func removeRules(nrs object, ip, subnet string) bool {
	changed := false
	drop := func(key, field, want string, same func(a, b string) bool) {
		kept := []any{}
		for _, r := range objects(nrs[key]) {
			if same(str(r, field), want) {
				changed = true
				continue
			}
			kept = append(kept, r)
		}
		nrs[key] = kept
	}
	if ip != "" {
		drop("ipRules", "value", ip, sameIP)
	}
	if subnet != "" {
		drop("virtualNetworkRules", "id", subnet, sameID)
	}
	return changed
}

// laterThan compares RFC 3339 times (an unreadable b counts as earlier).
func laterThan(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339, a)
	tb, errB := time.Parse(time.RFC3339, b)
	return errA == nil && (errB != nil || ta.After(tb))
}

func hasRule(rules any, field, want string, same func(a, b string) bool) bool {
	for _, r := range objects(rules) {
		if same(str(r, field), want) {
			return true
		}
	}
	return false
}

// sameIP compares IP rule values: 1.2.3.4 and 1.2.3.4/32 are the same rule.
func sameIP(a, b string) bool {
	pa, okA := ipPrefix(a)
	pb, okB := ipPrefix(b)
	if okA && okB {
		return pa == pb
	}
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

func ipPrefix(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// sameID compares resource IDs, which are case-insensitive.
func sameID(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

// subnetID resolves --subnet ID, or --subnet NAME --vnet-name NAME in
// resource group rg, to a subnet ID (az's _validate_subnet).
func (x *exec) subnetID(rg string) (string, error) {
	subnet, vnet := x.str("subnet"), x.str("vnet-name")
	_, idErr := resid.Parse(subnet)
	switch {
	case subnet != "" && idErr == nil && vnet == "":
		return subnet, nil
	case subnet != "" && idErr != nil && vnet != "":
		return x.c.resourcePath(rg, nsNetwork, "virtualNetworks", vnet, "subnets", subnet)
	}
	return "", fmt.Errorf("usage error: --subnet ID | --subnet NAME --vnet-name NAME")
}
