package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// networkRuleSimulate is `acr network-rule simulate`: the impact preview.
// It builds the proposed network settings from the registry's current ones
// and the flags (as acr update and network-rule add|remove would change
// them), or takes a whole networkRuleSet from a file, and asks the server
// which remembered sources and principals they would newly deny or allow.
func networkRuleSimulate() *cobra.Command {
	return leaf(spec{
		use: "simulate", short: "Preview a network rule change against the traffic of the last days: who it would newly deny or allow",
		example: "  moat acr network-rule simulate --name myregistry --remove-ip-address 16.17.18.0/24\n" +
			"  moat acr network-rule simulate --name myregistry --default-action Deny --ip-address 20.30.40.50 --days 30\n" +
			"  moat acr network-rule simulate --name myregistry --rule-set-file proposed.json",
		group: true, required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			registryNameFlag(cmd)
			cmd.Flags().String("default-action", "", "proposed default action: Allow or Deny")
			listFlag(cmd, "ip-address", "", "IP rules to add (addresses, prefixes, IP group IDs, IP set names)")
			listFlag(cmd, "remove-ip-address", "", "IP rules to remove")
			triFlag(cmd, "public-network-enabled", "proposed public network access")
			triFlag(cmd, "allow-trusted-services", "proposed trusted-service bypass (networkRuleBypassOptions AzureServices, else None)")
			cmd.Flags().String("rule-set-file", "", "a file holding a whole proposed networkRuleSet (JSON), in place of the current one")
			cmd.Flags().Int("days", 7, "how many days of remembered traffic to decide (1 to 30)")
		},
		table: simulateTable,
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			reg, _, err := x.c.get(p)
			if err != nil {
				return nil, err
			}
			body, err := x.proposedSettings(reg)
			if err != nil {
				return nil, err
			}
			days, _ := x.cmd.Flags().GetInt("days")
			body["days"] = days
			var out object
			if err := x.c.do(http.MethodPost, p+"/simulateNetworkRuleSet", body, &out); err != nil {
				return nil, err
			}
			return out, nil
		},
	})
}

// proposedSettings are the members of the simulate request: the network
// settings the flags change.
func (x *exec) proposedSettings(reg object) (object, error) {
	body := object{}
	nrs := ruleSet(reg)
	if f := x.str("rule-set-file"); f != "" {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var fromFile object
		if err := json.Unmarshal(raw, &fromFile); err != nil || fromFile == nil {
			return nil, fmt.Errorf("--rule-set-file %s: not a JSON object (a networkRuleSet such as {\"defaultAction\":\"Deny\",\"ipRules\":[{\"action\":\"Allow\",\"value\":\"20.30.40.50\"}]})", f)
		}
		nrs = fromFile
		if _, ok := nrs["ipRules"].([]any); !ok {
			nrs["ipRules"] = []any{}
		}
		if _, ok := nrs["virtualNetworkRules"].([]any); !ok {
			nrs["virtualNetworkRules"] = []any{}
		}
	}
	a, err := x.enum("default-action", "Allow", "Deny")
	if err != nil {
		return nil, err
	}
	if a != "" {
		nrs["defaultAction"] = a
	}
	for _, ip := range x.list("ip-address") {
		if ip = strings.TrimSpace(ip); ip != "" {
			addRules(nrs, ip, "", "")
		}
	}
	for _, ip := range x.list("remove-ip-address") {
		if ip = strings.TrimSpace(ip); ip != "" && !removeRules(nrs, ip, "") {
			x.warn("registry %s has no IP rule %s; nothing to remove", str(reg, "name"), ip)
		}
	}
	body["networkRuleSet"] = nrs
	if v, ok := x.tri("public-network-enabled"); ok {
		body["publicNetworkAccess"] = enabled(v)
	}
	if v, ok := x.tri("allow-trusted-services"); ok {
		body["networkRuleBypassOptions"] = map[bool]string{true: "AzureServices", false: "None"}[v]
	}
	return body, nil
}

// simulateTable is one row per source whose decision would change.
var simulateTable tableFunc = func(v any) []row {
	var rows []row
	for _, side := range []struct{ key, change string }{{"newlyDenied", "Denied"}, {"newlyAllowed", "Allowed"}} {
		for _, s := range objects(dig(v, side.key)) {
			rows = append(rows, row{{"Change", side.change}, {"Client IP", str(s, "clientIp")},
				{"Subnet / Private Endpoint", str(s, "subnet") + str(s, "privateEndpoint")}, {"Principal", str(s, "principal")},
				{"Requests", fmt.Sprint(dig(s, "requests"))}, {"Last Seen", str(s, "lastSeen")},
				{"Proposed", str(s, "proposed", "reason")}})
		}
	}
	return rows
}
