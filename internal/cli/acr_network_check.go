package cli

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

// networkRuleCheck is `acr network-rule check`: the what-if of the access
// decision for an address, subnet or private endpoint, without traffic.
func networkRuleCheck() *cobra.Command {
	return leaf(spec{
		use: "check", short: "Check whether a client at an address, subnet or private endpoint may reach a registry",
		example: "  moat acr network-rule check --name myregistry --ip-address 16.17.18.19\n" +
			"  moat acr network-rule check --name myregistry --subnet /subscriptions/.../subnets/mysubnet --ip-address 10.0.1.5",
		group: true, required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			registryNameFlag(cmd)
			cmd.Flags().String("ip-address", "", "the client's IP address")
			cmd.Flags().String("subnet", "", "ID of the subnet the client is in (or its name with --vnet-name)")
			cmd.Flags().String("vnet-name", "", "name of the virtual network of --subnet NAME")
			cmd.Flags().String("private-endpoint", "", "ID of the private endpoint the client connects through")
		},
		table: func(v any) []row {
			o, _ := v.(object)
			return []row{{{"Decision", str(o, "decision")}, {"Reason", str(o, "reason")}, {"Matched Rule", str(o, "matchedRule")}, {"Path", str(o, "path")}, {"Client IP", str(o, "clientIp")}}}
		},
		run: func(x *exec) (any, error) {
			if x.str("ip-address") == "" && x.str("subnet") == "" && x.str("private-endpoint") == "" {
				return nil, fmt.Errorf("usage error: --ip-address ADDRESS [--subnet ID] | --private-endpoint ID")
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
			body := object{"ipAddress": x.str("ip-address"), "subnet": subnet, "privateEndpoint": x.str("private-endpoint")}
			var out object
			if err := x.c.do(http.MethodPost, p+"/checkNetworkAccess", body, &out); err != nil {
				return nil, err
			}
			return out, nil
		},
	})
}

// networkRuleDenials is `acr network-rule denials`: who was denied, aggregated per minute.
func networkRuleDenials() *cobra.Command {
	return leaf(spec{
		use: "denials", short: "List recent requests denied by a registry's network rules",
		example: "  moat acr network-rule denials --name myregistry --since 1h",
		group:   true, required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			registryNameFlag(cmd)
			cmd.Flags().String("since", "24h", "how far back, as a duration (15m, 1h, 24h)")
		},
		table: func(v any) []row {
			var rows []row
			for _, d := range objects(v) {
				rows = append(rows, row{{"Last Seen", str(d, "lastSeen")}, {"Client IP", str(d, "clientIp")}, {"Path", str(d, "path")},
					{"Subnet / Private Endpoint", str(d, "subnet") + str(d, "privateEndpoint")}, {"Reason", str(d, "reason")},
					{"Route", str(d, "route")}, {"Count", fmt.Sprint(dig(d, "count"))}})
			}
			return rows
		},
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			var out struct {
				Value []any `json:"value"`
			}
			if err := x.c.do(http.MethodGet, p+"/networkRuleDenials?since="+url.QueryEscape(x.str("since")), nil, &out); err != nil {
				return nil, err
			}
			if out.Value == nil {
				out.Value = []any{}
			}
			return out.Value, nil
		},
	})
}
