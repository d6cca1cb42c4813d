package cli

import (
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

// newIPGroup is `network ip-group`: named sets of addresses and prefixes
// that registries' IP rules name by ID (az network ip-group).
func newIPGroup() *cobra.Command {
	return parent("ip-group", "Manage IP groups: named sets of addresses that registries' IP rules can name",
		ipGroupWrite("create"), ipGroupWrite("update"), ipGroupShow(), ipGroupList(), ipGroupDelete())
}

var ipGroupTable = perItem(func(v any) row {
	var addrs []string
	for _, a := range listOf(dig(v, "ipAddresses")) {
		s, _ := a.(string)
		addrs = append(addrs, s)
	}
	return row{{"Name", str(v, "name")}, {"ResourceGroup", str(v, "resourceGroup")}, {"Location", str(v, "location")},
		{"IpAddresses", strings.Join(addrs, ", ")}, {"ProvisioningState", str(v, "provisioningState")}}
})

func ipGroupNameFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("name", "n", "", "name of the IP group")
}

func (x *exec) ipGroupPath() (string, error) {
	return x.c.resourcePath(x.group(), nsNetwork, "ipGroups", x.str("name"))
}

// ipGroupWrite is `create` (PUT) or `update` (GET, change, PUT): update
// replaces the addresses with --ip-addresses and keeps the rest.
func ipGroupWrite(verb string) *cobra.Command {
	return leaf(spec{
		use: verb, short: capitalize(verb) + " an IP group",
		example: "  moat network ip-group " + verb + " --name ci-agents --ip-addresses 203.0.113.0/24 198.51.100.7\n" +
			"  moat acr network-rule add --name myregistry --ip-address $(moat network ip-group show --name ci-agents --query id -o tsv)",
		group: true, required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			ipGroupNameFlag(cmd)
			listFlag(cmd, "ip-addresses", "", "space-separated public IP addresses and CIDR prefixes")
			if verb == "create" {
				locationFlag(cmd)
			}
			tagsFlag(cmd)
		},
		table: ipGroupTable,
		run: func(x *exec) (any, error) {
			p, err := x.ipGroupPath()
			if err != nil {
				return nil, err
			}
			if verb == "create" {
				body := object{"properties": object{"ipAddresses": orEmpty(x.list("ip-addresses"))}}
				if l := x.location(x.group()); l != "" {
					body["location"] = l
				}
				if x.changed("tags") {
					body["tags"] = x.tags()
				}
				out, err := x.c.write(http.MethodPut, p, "", body)
				return azView(out), err
			}
			out, err := x.modify(http.MethodPut, p, func(cur object) (any, error) {
				body := object{"location": cur["location"], "tags": cur["tags"], "properties": object{"ipAddresses": dig(cur, "properties", "ipAddresses")}}
				if x.changed("ip-addresses") {
					body["properties"] = object{"ipAddresses": orEmpty(x.list("ip-addresses"))}
				}
				if x.changed("tags") {
					body["tags"] = x.tags()
				}
				return body, nil
			})
			return azView(out), err
		},
	})
}

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func ipGroupShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show an IP group",
		group: true, required: []string{"name/-n"},
		flags: ipGroupNameFlag,
		table: ipGroupTable,
		run: func(x *exec) (any, error) {
			p, err := x.ipGroupPath()
			if err != nil {
				return nil, err
			}
			out, _, err := x.c.get(p)
			return azView(out), err
		},
	})
}

func ipGroupList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List IP groups (of the resource group, if given, else of all groups)",
		group: true,
		table: ipGroupTable,
		run: func(x *exec) (any, error) {
			out, err := x.listInGroups(nsNetwork, "ipGroups")
			return azView(out), err
		},
	})
}

func ipGroupDelete() *cobra.Command {
	return leaf(spec{
		use: "delete", short: "Delete an IP group (refused while a registry's IP rule names it)",
		group: true, required: []string{"name/-n"},
		flags: ipGroupNameFlag,
		run: func(x *exec) (any, error) {
			p, err := x.ipGroupPath()
			if err != nil {
				return nil, err
			}
			return nil, x.c.do(http.MethodDelete, p, nil, nil)
		},
	})
}
