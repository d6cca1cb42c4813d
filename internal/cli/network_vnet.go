package cli

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

const nsNetwork = "Microsoft.Network"

func newNetwork() *cobra.Command {
	return parent("network", "Manage virtual networks, subnets, private endpoints and IP groups",
		parent("vnet", "Manage virtual networks",
			vnetCreate(), vnetShow(), vnetList(), vnetDelete(),
			parent("subnet", "Manage the subnets of a virtual network",
				subnetWrite("create"), subnetWrite("update"), subnetShow(), subnetList(), subnetDelete())),
		newPrivateEndpoint(), newIPGroup())
}

// vnetTable is az's virtual network table.
var vnetTable = perItem(func(v any) row {
	join := func(path ...string) string {
		var s []string
		for _, p := range listOf(dig(v, path...)) {
			s = append(s, fmt.Sprint(p))
		}
		if len(s) == 0 {
			return " "
		}
		return strings.Join(s, ", ")
	}
	return row{
		{"Name", str(v, "name")},
		{"ResourceGroup", str(v, "resourceGroup")},
		{"Location", str(v, "location")},
		{"NumSubnets", strconv.Itoa(len(listOf(dig(v, "subnets"))))},
		{"Prefixes", join("addressSpace", "addressPrefixes")},
		{"DnsServers", join("dhcpOptions", "dnsServers")},
		{"DDOSProtection", dig(v, "enableDdosProtection")},
		{"VMProtection", dig(v, "enableVmProtection")},
	}
})

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}

func vnetNameFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("name", "n", "", "name of the virtual network")
}

func (x *exec) vnetPath(rg, vnet string, more ...string) (string, error) {
	return x.c.resourcePath(rg, nsNetwork, append([]string{"virtualNetworks", vnet}, more...)...)
}

func vnetCreate() *cobra.Command {
	return leaf(spec{
		use: "create", short: "Create a virtual network, optionally with a subnet",
		example:  "  moat network vnet create --name myvnet --address-prefixes 10.0.0.0/16 --subnet-name mysubnet --subnet-prefixes 10.0.0.0/24",
		group:    true,
		required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			vnetNameFlag(cmd)
			listFlag(cmd, "address-prefixes", "address-prefix", "space-separated IP address prefixes of the network (default 10.0.0.0/16)")
			cmd.Flags().String("subnet-name", "", "name of a subnet to create with the network")
			listFlag(cmd, "subnet-prefixes", "subnet-prefix", "space-separated address prefixes of the subnet (default: the first address prefix as a /24)")
			locationFlag(cmd)
			tagsFlag(cmd)
		},
		table: func(v any) []row { return vnetTable(dig(v, "newVNet")) },
		run: func(x *exec) (any, error) {
			prefixes := x.list("address-prefixes")
			if len(prefixes) == 0 {
				prefixes = []string{"10.0.0.0/16"}
			}
			subnetName, subnetPrefixes := x.str("subnet-name"), x.list("subnet-prefixes")
			if len(subnetPrefixes) > 0 && subnetName == "" {
				return nil, fmt.Errorf("usage error: --subnet-name NAME [--subnet-prefixes PREFIXES]")
			}
			props := object{"addressSpace": object{"addressPrefixes": prefixes}}
			if subnetName != "" {
				if len(subnetPrefixes) == 0 {
					subnetPrefixes = []string{defaultSubnetPrefix(prefixes[0])}
				}
				props["subnets"] = []any{object{"name": subnetName, "properties": prefixProps(object{}, subnetPrefixes)}}
			}
			body := object{"properties": props}
			if l := x.location(x.group()); l != "" {
				body["location"] = l
			}
			if x.changed("tags") {
				body["tags"] = x.tags()
			}
			p, err := x.vnetPath(x.group(), x.str("name"))
			if err != nil {
				return nil, err
			}
			out, err := x.c.write(http.MethodPut, p, "", body)
			if err != nil {
				return nil, err
			}
			return object{"newVNet": azView(out)}, nil
		},
	})
}

// defaultSubnetPrefix is az's: the network's first address with a /24 mask,
// or the network's own mask when that is narrower.
func defaultSubnetPrefix(vnetPrefix string) string {
	addr, bits, ok := strings.Cut(vnetPrefix, "/")
	n, err := strconv.Atoi(bits)
	if !ok || err != nil || n < 24 {
		n = 24
	}
	return addr + "/" + strconv.Itoa(n)
}

// prefixProps sets addressPrefix (one) or addressPrefixes (several), as az does.
func prefixProps(props object, prefixes []string) object {
	delete(props, "addressPrefix")
	delete(props, "addressPrefixes")
	if len(prefixes) == 1 {
		props["addressPrefix"] = prefixes[0]
	} else {
		props["addressPrefixes"] = prefixes
	}
	return props
}

func vnetShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show a virtual network",
		group: true, required: []string{"name/-n"},
		flags: vnetNameFlag,
		table: vnetTable,
		run: func(x *exec) (any, error) {
			p, err := x.vnetPath(x.group(), x.str("name"))
			if err != nil {
				return nil, err
			}
			out, _, err := x.c.get(p)
			return azView(out), err
		},
	})
}

func vnetList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List virtual networks (of the resource group, if given, else of all groups)",
		group: true,
		table: vnetTable,
		run: func(x *exec) (any, error) {
			out, err := x.listInGroups(nsNetwork, "virtualNetworks")
			return azView(out), err
		},
	})
}

// listInGroups lists resources of a type in --resource-group, or, when it is
// not given, in every resource group of the subscription (as az does).
func (x *exec) listInGroups(namespace, typ string) ([]any, error) {
	groups := []string{x.group()}
	if !x.changed("resource-group") {
		if gs, err := x.groups(); err == nil {
			groups = nil
			for _, g := range gs {
				groups = append(groups, str(g, "name"))
			}
		}
	}
	all := []any{}
	for _, g := range groups {
		p, err := x.c.resourcePath(g, namespace, typ)
		if err != nil {
			return nil, err
		}
		items, err := x.c.list(p)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
	}
	return all, nil
}

func vnetDelete() *cobra.Command {
	return leaf(spec{
		use: "delete", short: "Delete a virtual network",
		group: true, required: []string{"name/-n"},
		flags: vnetNameFlag,
		run: func(x *exec) (any, error) {
			p, err := x.vnetPath(x.group(), x.str("name"))
			if err != nil {
				return nil, err
			}
			return nil, x.c.do(http.MethodDelete, p, nil, nil)
		},
	})
}

func subnetFlags(cmd *cobra.Command) {
	cmd.Flags().String("vnet-name", "", "name of the virtual network")
	cmd.Flags().StringP("name", "n", "", "name of the subnet")
}

func (x *exec) subnetPath() (string, error) {
	return x.vnetPath(x.group(), x.str("vnet-name"), "subnets", x.str("name"))
}

// subnetReadOnly are subnet properties the server computes; an update does
// not send them back.
var subnetReadOnly = []string{"provisioningState", "ipConfigurations", "ipConfigurationProfiles", "privateEndpoints",
	"purpose", "resourceNavigationLinks", "serviceAssociationLinks", "applicationGatewayIPConfigurations"}

// subnetWrite is `subnet create` (PUT) or `subnet update` (GET, change, PUT).
func subnetWrite(verb string) *cobra.Command {
	s := spec{
		use: verb, short: capitalize(verb) + " a subnet",
		example: "  moat network vnet subnet " + verb + " --vnet-name myvnet --name mysubnet --service-endpoints Microsoft.ContainerRegistry\n" +
			"  moat network vnet subnet " + verb + " --vnet-name myvnet --name mysubnet --service-endpoints \"\"",
		group:    true,
		required: []string{"vnet-name", "name/-n"},
		flags: func(cmd *cobra.Command) {
			subnetFlags(cmd)
			listFlag(cmd, "address-prefixes", "address-prefix", "space-separated address prefixes of the subnet (CIDR)")
			listFlag(cmd, "service-endpoints", "", `space-separated service endpoints, e.g. Microsoft.ContainerRegistry; "" removes them`)
		},
	}
	if verb == "create" {
		s.required = append(s.required, "address-prefixes")
	}
	s.run = func(x *exec) (any, error) {
		if x.changed("address-prefixes") && len(x.list("address-prefixes")) == 0 {
			return nil, fmt.Errorf("argument --address-prefixes: expected at least one prefix")
		}
		p, err := x.subnetPath()
		if err != nil {
			return nil, err
		}
		set := func(props object) object {
			if x.changed("address-prefixes") {
				prefixProps(props, x.list("address-prefixes"))
			}
			if x.changed("service-endpoints") {
				eps := []any{}
				for _, s := range x.list("service-endpoints") {
					eps = append(eps, object{"service": s})
				}
				props["serviceEndpoints"] = eps
			}
			return props
		}
		if verb == "create" {
			out, err := x.c.write(http.MethodPut, p, "", object{"properties": set(object{})})
			return azView(out), err
		}
		out, err := x.modify(http.MethodPut, p, func(cur object) (any, error) {
			props := object{}
			if cp, ok := cur["properties"].(map[string]any); ok {
				for k, v := range cp {
					props[k] = v
				}
			}
			for _, k := range subnetReadOnly {
				delete(props, k)
			}
			if eps := objects(props["serviceEndpoints"]); len(eps) > 0 {
				kept := []any{}
				for _, e := range eps {
					kept = append(kept, object{"service": e["service"], "locations": e["locations"]})
				}
				props["serviceEndpoints"] = kept
			}
			return object{"properties": set(props)}, nil
		})
		return azView(out), err
	}
	return leaf(s)
}

func subnetShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show a subnet",
		example: "  moat network vnet subnet show --vnet-name myvnet --name mysubnet --query id --output tsv",
		group:   true, required: []string{"vnet-name", "name/-n"},
		flags: subnetFlags,
		run: func(x *exec) (any, error) {
			p, err := x.subnetPath()
			if err != nil {
				return nil, err
			}
			out, _, err := x.c.get(p)
			return azView(out), err
		},
	})
}

func subnetList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List the subnets of a virtual network",
		group: true, required: []string{"vnet-name"},
		flags: func(cmd *cobra.Command) {
			cmd.Flags().String("vnet-name", "", "name of the virtual network")
		},
		run: func(x *exec) (any, error) {
			p, err := x.vnetPath(x.group(), x.str("vnet-name"), "subnets")
			if err != nil {
				return nil, err
			}
			out, err := x.c.list(p)
			return azView(out), err
		},
	})
}

func subnetDelete() *cobra.Command {
	return leaf(spec{
		use: "delete", short: "Delete a subnet",
		group: true, required: []string{"vnet-name", "name/-n"},
		flags: subnetFlags,
		run: func(x *exec) (any, error) {
			p, err := x.subnetPath()
			if err != nil {
				return nil, err
			}
			return nil, x.c.do(http.MethodDelete, p, nil, nil)
		},
	})
}
