package cli

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

func newPrivateEndpoint() *cobra.Command {
	return parent("private-endpoint", "Manage private endpoints",
		peCreate(), peShow(), peList(), peDelete())
}

func peNameFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("name", "n", "", "name of the private endpoint")
}

func (x *exec) pePath() (string, error) {
	return x.c.resourcePath(x.group(), nsNetwork, "privateEndpoints", x.str("name"))
}

func peCreate() *cobra.Command {
	return leaf(spec{
		use: "create", short: "Create a private endpoint to a container registry",
		example: "  moat network private-endpoint create --name mype --vnet-name myvnet --subnet mysubnet \\\n" +
			"    --private-connection-resource-id $(moat acr show --name myregistry --query id --output tsv) \\\n" +
			"    --group-id registry --connection-name myconnection",
		group:    true,
		required: []string{"name/-n", "subnet", "private-connection-resource-id", "connection-name"},
		flags: func(cmd *cobra.Command) {
			peNameFlag(cmd)
			cmd.Flags().String("subnet", "", "ID of the subnet, or its name with --vnet-name")
			cmd.Flags().String("vnet-name", "", "name of the virtual network of --subnet NAME")
			cmd.Flags().String("private-connection-resource-id", "", "resource ID of the registry to connect to")
			cmd.Flags().String("connection-name", "", "name of the private link service connection")
			listFlag(cmd, "group-id", "group-ids", "group ID of the private link resource to connect to: registry")
			triFlag(cmd, "manual-request", "ask the registry owner to approve the connection (manualPrivateLinkServiceConnections)")
			cmd.Flags().String("request-message", "", "message for the registry owner with a manual request")
			cmd.Flags().String("ip-address", "", "private IP address in the subnet for the endpoint (default: allocated)")
			listFlag(cmd, "ip-config", "ip-configs", "static IP configuration: name=NAME group-id=ID member-name=NAME private-ip-address=IP")
			cmd.Flags().String("nic-name", "", "custom name of the endpoint's network interface")
			locationFlag(cmd)
			tagsFlag(cmd)
		},
		run: func(x *exec) (any, error) {
			ipConfigs, err := x.ipConfigs()
			if err != nil {
				return nil, err
			}
			subnet, err := x.subnetID(x.group())
			if err != nil {
				return nil, err
			}
			conn := object{"privateLinkServiceId": x.str("private-connection-resource-id")}
			if g := x.list("group-id"); len(g) > 0 {
				conn["groupIds"] = g
			}
			if m := x.str("request-message"); m != "" {
				conn["requestMessage"] = m
			}
			connKey := "privateLinkServiceConnections"
			if manual, _ := x.tri("manual-request"); manual {
				connKey = "manualPrivateLinkServiceConnections"
			}
			props := object{
				"subnet": object{"id": subnet},
				connKey:  []any{object{"name": x.str("connection-name"), "properties": conn}},
			}
			if len(ipConfigs) > 0 {
				props["ipConfigurations"] = ipConfigs
			}
			if n := x.str("nic-name"); n != "" {
				props["customNetworkInterfaceName"] = n
			}
			body := object{"properties": props}
			if l := x.location(x.group()); l != "" {
				body["location"] = l
			}
			if x.changed("tags") {
				body["tags"] = x.tags()
			}
			p, err := x.pePath()
			if err != nil {
				return nil, err
			}
			out, err := x.c.write(http.MethodPut, p, "", body)
			return azView(out), err
		},
	})
}

// ipConfigs reads --ip-address and --ip-config into the endpoint's
// ipConfigurations.
func (x *exec) ipConfigs() ([]any, error) {
	group := "registry"
	if g := x.list("group-id"); len(g) > 0 {
		group = g[0]
	}
	var out []any
	if ip := x.str("ip-address"); ip != "" {
		out = append(out, ipConfig(x.str("name")+"-ipconfig", group, "registry", ip))
	}
	for _, words := range x.listGroups("ip-config") {
		kv := map[string]string{}
		for _, w := range words {
			for _, f := range strings.Fields(w) {
				k, v, ok := strings.Cut(f, "=")
				switch strings.ToLower(k) {
				case "name", "group-id", "member-name", "private-ip-address":
				default:
					ok = false
				}
				if !ok {
					return nil, fmt.Errorf("argument --ip-config: %q is not one of name=, group-id=, member-name=, private-ip-address=", f)
				}
				kv[strings.ToLower(k)] = v
			}
		}
		if kv["private-ip-address"] == "" {
			return nil, fmt.Errorf("argument --ip-config: private-ip-address= is required")
		}
		name := kv["name"]
		if name == "" {
			name = fmt.Sprintf("%s-ipconfig%d", x.str("name"), len(out)+1)
		}
		g, m := kv["group-id"], kv["member-name"]
		if g == "" {
			g = group
		}
		if m == "" {
			m = "registry"
		}
		out = append(out, ipConfig(name, g, m, kv["private-ip-address"]))
	}
	return out, nil
}

func ipConfig(name, group, member, ip string) object {
	return object{"name": name, "properties": object{"privateIPAddress": ip, "groupId": group, "memberName": member}}
}

func peShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show a private endpoint",
		group: true, required: []string{"name/-n"},
		flags: peNameFlag,
		run: func(x *exec) (any, error) {
			p, err := x.pePath()
			if err != nil {
				return nil, err
			}
			out, _, err := x.c.get(p)
			return azView(out), err
		},
	})
}

func peList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List private endpoints (of the resource group, if given, else of all groups)",
		group: true,
		run: func(x *exec) (any, error) {
			out, err := x.listInGroups(nsNetwork, "privateEndpoints")
			return azView(out), err
		},
	})
}

func peDelete() *cobra.Command {
	return leaf(spec{
		use: "delete", short: "Delete a private endpoint (and its connection to the registry)",
		group: true, required: []string{"name/-n"},
		flags: peNameFlag,
		run: func(x *exec) (any, error) {
			p, err := x.pePath()
			if err != nil {
				return nil, err
			}
			return nil, x.c.do(http.MethodDelete, p, nil, nil)
		},
	})
}
