package cli

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

const nsACR = "Microsoft.ContainerRegistry"

func newACR() *cobra.Command {
	return parent("acr", "Manage container registries",
		acrCreate(), acrUpdate(), acrShow(), acrList(), acrDelete(), acrLogin(), newCredential(),
		newNetworkRule(), newPrivateEndpointConnection(), newPrivateLinkResource(), newACRIdentity(),
		newACRAudit(), acrCheckHealth(), newACRTask(), acrImport(), newACRConfig(), acrGC(),
		newACRRepository(), newACRManifest(), newACRScopeMap(), newACRToken())
}

// registryTable is az's acr table: NAME, RESOURCE GROUP, LOCATION, SKU,
// LOGIN SERVER, CREATION DATE, ADMIN ENABLED.
var registryTable = perItem(func(r any) row {
	return row{
		{"NAME", value(r, "name")},
		{"RESOURCE GROUP", value(r, "resourceGroup")},
		{"LOCATION", value(r, "location")},
		{"SKU", value(r, "sku", "name")},
		{"LOGIN SERVER", value(r, "loginServer")},
		{"CREATION DATE", formatDate(value(r, "creationDate"))},
		{"ADMIN ENABLED", value(r, "adminUserEnabled")},
	}
})

// formatDate prints an RFC 3339 time as az's tables do: 2006-01-02T15:04:05Z.
func formatDate(s string) string {
	if len(s) >= 19 && s[10] == 'T' {
		return s[:19] + "Z"
	}
	return s
}

// registryView is a registry (or list) as az prints it: flattened, with the
// network rules under the SDK's names (ipAddressOrRange,
// virtualNetworkResourceId) next to the REST name of the subnet ID.
func registryView(v any) any {
	v = azView(v)
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	for _, it := range items {
		if nrs, ok := dig(it, "networkRuleSet").(map[string]any); ok {
			nrs["ipRules"] = ipRulesView(nrs["ipRules"])
			nrs["virtualNetworkRules"] = vnetRulesView(nrs["virtualNetworkRules"])
		}
	}
	return v
}

func ipRulesView(v any) []any {
	out := []any{}
	for _, r := range objects(v) {
		ip := str(r, "value")
		if ip == "" {
			ip = str(r, "ipAddressOrRange")
		}
		v := object{"action": actionOf(r), "ipAddressOrRange": ip}
		if e := str(r, "expiresOn"); e != "" {
			v["expiresOn"] = e // moat's: when the rule expires
		}
		out = append(out, v)
	}
	return out
}

func vnetRulesView(v any) []any {
	out := []any{}
	for _, r := range objects(v) {
		id := subnetOfRule(r)
		out = append(out, object{"action": actionOf(r), "virtualNetworkResourceId": id, "virtualNetworkSubnetResourceId": id})
	}
	return out
}

func actionOf(r object) string {
	if a := str(r, "action"); a != "" {
		return a
	}
	return "Allow"
}

// subnetOfRule returns the subnet ID of a virtual-network rule in any of its spellings.
func subnetOfRule(r object) string {
	for _, k := range []string{"virtualNetworkSubnetResourceId", "id", "virtualNetworkResourceId"} {
		if s := str(r, k); s != "" {
			return s
		}
	}
	return ""
}

func registryNameFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("name", "n", "", "name of the container registry")
}

// registryPath returns the path of the registry named by flag. Like az, when
// --resource-group is not given the registry is looked up by name in the
// subscription (names are unique per server); if it is not there, the
// registry is not found (or, when the server cannot list the subscription's
// registries, the path in the default group is returned for the server to
// answer).
func (x *exec) registryPath(flag string) (string, error) {
	name := x.str(flag)
	if x.changed("resource-group") {
		return x.c.resourcePath(x.group(), nsACR, "registries", name)
	}
	sp, err := x.c.subPath()
	if err != nil {
		return "", err
	}
	regs, err := x.c.list(sp + "/providers/" + nsACR + "/registries")
	if err != nil {
		return x.c.resourcePath(defaultGroup, nsACR, "registries", name)
	}
	for _, r := range objects(regs) {
		if id := str(r, "id"); strings.EqualFold(str(r, "name"), name) && id != "" {
			return id, nil
		}
	}
	return "", &apiError{Status: http.StatusNotFound, Code: "ResourceNotFound",
		Message: fmt.Sprintf("registry %q was not found in subscription %s; `moat acr list` shows the registries", name, x.c.sub)}
}

// registryPropertyFlags are the network flags shared by acr create and update.
func registryPropertyFlags(cmd *cobra.Command) {
	triFlag(cmd, "admin-enabled", "whether the admin user is enabled")
	cmd.Flags().String("default-action", "", "default action when no network rule matches: Allow or Deny (Premium only)")
	triFlag(cmd, "public-network-enabled", "allow access from public networks")
	triFlag(cmd, "allow-trusted-services", "allow trusted platform services to cross the network rules (networkRuleBypassOptions AzureServices, else None)")
	tagsFlag(cmd)
}

// registryProperties reads the flags of registryPropertyFlags into ARM
// registry properties; the default action is returned apart.
func (x *exec) registryProperties(props object) (defaultAction string, err error) {
	if v, ok := x.tri("admin-enabled"); ok {
		props["adminUserEnabled"] = v
	}
	if v, ok := x.tri("public-network-enabled"); ok {
		props["publicNetworkAccess"] = enabled(v)
	}
	if v, ok := x.tri("allow-trusted-services"); ok {
		props["networkRuleBypassOptions"] = "None"
		if v {
			props["networkRuleBypassOptions"] = "AzureServices"
		}
	}
	return x.enum("default-action", "Allow", "Deny")
}

func enabled(v bool) string {
	if v {
		return "Enabled"
	}
	return "Disabled"
}

func acrCreate() *cobra.Command {
	return leaf(spec{
		use: "create", short: "Create a container registry",
		example:  "  moat acr create --name myregistry --sku Premium",
		group:    true,
		required: []string{"name/-n", "sku"},
		flags: func(cmd *cobra.Command) {
			registryNameFlag(cmd)
			cmd.Flags().String("sku", "", "Basic, Standard or Premium")
			locationFlag(cmd)
			registryPropertyFlags(cmd)
		},
		table: registryTable,
		run: func(x *exec) (any, error) {
			sku, err := x.enum("sku", "Basic", "Standard", "Premium")
			if err != nil {
				return nil, err
			}
			props := object{}
			action, err := x.registryProperties(props)
			if err != nil {
				return nil, err
			}
			if action != "" {
				props["networkRuleSet"] = object{"defaultAction": action}
			}
			p, err := x.c.resourcePath(x.group(), nsACR, "registries", x.str("name"))
			if err != nil {
				return nil, err
			}
			body := object{"sku": object{"name": sku}, "properties": props}
			if l := x.location(x.group()); l != "" {
				body["location"] = l
			}
			if x.changed("tags") {
				body["tags"] = x.tags()
			}
			out, err := x.c.write(http.MethodPut, p, "", body)
			return registryView(out), err
		},
	})
}

func acrUpdate() *cobra.Command {
	return leaf(spec{
		use: "update", short: "Update a container registry",
		example:  "  moat acr update --name myregistry --default-action Deny",
		group:    true,
		required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			registryNameFlag(cmd)
			cmd.Flags().String("sku", "", "Basic, Standard or Premium")
			registryPropertyFlags(cmd)
			triFlag(cmd, "anonymous-pull-enabled", "allow pulls from unauthenticated clients (Standard and Premium)")
			triFlag(cmd, "data-endpoint-enabled", "enable the dedicated data endpoint")
		},
		table: registryTable,
		run: func(x *exec) (any, error) {
			sku, err := x.enum("sku", "Basic", "Standard", "Premium")
			if err != nil {
				return nil, err
			}
			props := object{}
			action, err := x.registryProperties(props)
			if err != nil {
				return nil, err
			}
			if v, ok := x.tri("anonymous-pull-enabled"); ok {
				props["anonymousPullEnabled"] = v
			}
			if v, ok := x.tri("data-endpoint-enabled"); ok {
				props["dataEndpointEnabled"] = v
			}
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			out, err := x.modify(http.MethodPatch, p, func(cur object) (any, error) {
				patch := object{}
				if action != "" {
					nrs := ruleSet(cur)
					nrs["defaultAction"] = action
					props["networkRuleSet"] = nrs
				}
				if len(props) > 0 {
					patch["properties"] = props
				}
				if sku != "" {
					patch["sku"] = object{"name": sku}
				}
				if x.changed("tags") {
					patch["tags"] = x.tags()
				}
				if len(patch) == 0 {
					return nil, nil
				}
				return patch, nil
			})
			return registryView(out), err
		},
	})
}

// ruleSet returns a copy of a registry's networkRuleSet in the REST shape,
// ready to be sent back whole: {defaultAction, ipRules:[{action, value}],
// virtualNetworkRules:[{action, id}]}.
func ruleSet(reg object) object {
	cur, _ := dig(reg, "properties", "networkRuleSet").(map[string]any)
	nrs := object{}
	for k, v := range cur {
		nrs[k] = v
	}
	if nrs["defaultAction"] == nil {
		nrs["defaultAction"] = "Allow"
	}
	ips := []any{}
	for _, r := range objects(cur["ipRules"]) {
		v := str(r, "value")
		if v == "" {
			v = str(r, "ipAddressOrRange")
		}
		rule := object{"action": actionOf(r), "value": v}
		if e, ok := r["expiresOn"]; ok && e != nil {
			rule["expiresOn"] = e
		}
		ips = append(ips, rule)
	}
	vnets := []any{}
	for _, r := range objects(cur["virtualNetworkRules"]) {
		vnets = append(vnets, object{"action": actionOf(r), "id": subnetOfRule(r)})
	}
	nrs["ipRules"], nrs["virtualNetworkRules"] = ips, vnets
	return nrs
}

func acrShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show a container registry",
		group: true, required: []string{"name/-n"},
		flags: registryNameFlag,
		table: registryTable,
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			out, _, err := x.c.get(p)
			return registryView(out), err
		},
	})
}

func acrList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List container registries (of the resource group, if given, else of the subscription)",
		group: true,
		table: registryTable,
		run: func(x *exec) (any, error) {
			var p string
			var err error
			if x.changed("resource-group") {
				p, err = x.c.resourcePath(x.group(), nsACR, "registries")
			} else {
				p, err = x.c.subPath()
				p += "/providers/" + nsACR + "/registries"
			}
			if err != nil {
				return nil, err
			}
			out, err := x.c.list(p)
			return registryView(out), err
		},
	})
}

func acrDelete() *cobra.Command {
	return leaf(spec{
		use: "delete", short: "Delete a container registry and all its content",
		group: true, required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			registryNameFlag(cmd)
			yesFlag(cmd)
		},
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			if err := x.confirm("Are you sure you want to delete the registry '" + x.str("name") + "' and all its images?"); err != nil {
				return nil, err
			}
			return nil, x.c.do(http.MethodDelete, p, nil, nil)
		},
	})
}
