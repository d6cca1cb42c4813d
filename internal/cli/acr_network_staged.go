package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// newNetworkRuleStaged is `acr network-rule staged`: shadow mode. A staged
// set of network settings is decided beside the enforced one on every
// request; the requests it would decide otherwise are listed; promote makes
// it the enforced set in one change.
func newNetworkRuleStaged() *cobra.Command {
	return parent("staged", "Stage network settings in shadow mode: see who they would let in or keep out before they apply",
		stagedSet(), stagedShow(), stagedAction("promote"), stagedAction("discard"))
}

func stagedSet() *cobra.Command {
	return leaf(spec{
		use: "set", short: "Stage network settings (starting from the staged ones, else the enforced ones)",
		example: "  moat acr network-rule staged set --name myregistry --default-action Deny --ip-addresses 16.17.18.0/24 20.30.40.50\n" +
			"  moat acr network-rule staged show --name myregistry",
		group: true, required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			registryNameFlag(cmd)
			cmd.Flags().String("default-action", "", "Allow or Deny")
			cmd.Flags().String("public-network-access", "", "Enabled or Disabled")
			listFlag(cmd, "ip-addresses", "", `space-separated IP rules (addresses, prefixes, IP group IDs, IP set names) replacing the staged ones; "" for none`)
		},
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			out, err := x.modify(http.MethodPatch, p, func(reg object) (any, error) {
				staged, _ := dig(reg, "properties", "stagedNetworkAccess").(map[string]any)
				if staged == nil {
					staged = object{"publicNetworkAccess": dig(reg, "properties", "publicNetworkAccess"),
						"networkRuleBypassOptions": dig(reg, "properties", "networkRuleBypassOptions")}
					staged["networkRuleSet"] = ruleSet(reg)
				}
				delete(staged, "stagedOn")
				nrs, _ := staged["networkRuleSet"].(map[string]any)
				if nrs == nil {
					nrs = ruleSet(reg)
				}
				if a := x.str("default-action"); a != "" {
					nrs["defaultAction"] = a
				}
				if x.changed("ip-addresses") {
					ips := []any{}
					for _, v := range x.list("ip-addresses") {
						if v = strings.TrimSpace(v); v != "" {
							ips = append(ips, object{"action": "Allow", "value": v})
						}
					}
					nrs["ipRules"] = ips
				}
				staged["networkRuleSet"] = nrs
				if a := x.str("public-network-access"); a != "" {
					staged["publicNetworkAccess"] = a
				}
				return object{"properties": object{"stagedNetworkAccess": staged}}, nil
			})
			if err != nil {
				return nil, err
			}
			return stagedView(out), nil
		},
	})
}

// stagedView is a registry's staged settings as the CLI prints them.
func stagedView(reg object) any {
	s, _ := dig(reg, "properties", "stagedNetworkAccess").(map[string]any)
	if s == nil {
		return nil
	}
	v := object{"publicNetworkAccess": s["publicNetworkAccess"], "networkRuleBypassOptions": s["networkRuleBypassOptions"], "stagedOn": s["stagedOn"]}
	v["networkRuleSet"] = ruleSetView(object{"properties": object{"networkRuleSet": s["networkRuleSet"]}})
	return v
}

func stagedShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show the staged settings and the requests they would decide otherwise",
		group: true, required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			registryNameFlag(cmd)
			cmd.Flags().String("since", "24h", "how far back to list disagreements, as a duration (15m, 1h, 24h)")
		},
		table: func(v any) []row {
			var rows []row
			for _, d := range objects(dig(v, "disagreements")) {
				rows = append(rows, row{{"Last Seen", str(d, "lastSeen")}, {"Client IP", str(d, "clientIp")},
					{"Subnet / Private Endpoint", str(d, "subnet") + str(d, "privateEndpoint")},
					{"Enforced", str(d, "decision") + " " + str(d, "reason")}, {"Staged", str(d, "stagedDecision") + " " + str(d, "stagedReason")},
					{"Count", fmt.Sprint(dig(d, "count"))}})
			}
			return rows
		},
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			reg, _, err := x.c.get(p)
			if err != nil {
				return nil, err
			}
			var out struct {
				Value []any `json:"value"`
			}
			if err := x.c.do(http.MethodGet, p+"/networkRuleShadowDisagreements?since="+url.QueryEscape(x.str("since")), nil, &out); err != nil {
				return nil, err
			}
			if out.Value == nil {
				out.Value = []any{}
			}
			return object{"staged": stagedView(reg), "disagreements": out.Value}, nil
		},
	})
}

// stagedAction is `staged promote` (the staged settings become the
// enforced ones) or `staged discard`.
func stagedAction(verb string) *cobra.Command {
	short := map[string]string{"promote": "Make the staged settings the enforced ones, in one change",
		"discard": "Discard the staged settings"}[verb]
	return leaf(spec{
		use: verb, short: short,
		group: true, required: []string{"name/-n"},
		flags: registryNameFlag,
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			var out object
			if verb == "promote" {
				if err := x.c.do(http.MethodPost, p+"/promoteStagedNetworkAccess", nil, &out); err != nil {
					return nil, err
				}
			} else if out, err = x.c.write(http.MethodPatch, p, "", object{"properties": object{"stagedNetworkAccess": nil}}); err != nil {
				return nil, err
			}
			return object{"name": out["name"], "networkRuleSet": ruleSetView(out), "publicNetworkAccess": dig(out, "properties", "publicNetworkAccess")}, nil
		},
	})
}
