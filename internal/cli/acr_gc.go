package cli

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/spf13/cobra"
)

// `moat acr config retention update|show` (az's verbs: the registry's
// retention policy for untagged manifests) and `moat acr gc` (moat's own: run
// garbage collection now; docs/gc.md).

func newACRConfig() *cobra.Command {
	return parent("config", "Configure policies of a container registry",
		parent("retention", "Manage the retention policy of untagged manifests (Premium only)", retentionUpdate(), retentionShow()))
}

func registryFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("registry", "r", "", "name of the container registry")
}

var retentionTable = perItem(func(p any) row {
	return row{{"STATUS", value(p, "status")}, {"DAYS", value(p, "days")}, {"LAST UPDATED", formatDate(value(p, "lastUpdatedTime"))}}
})

func retentionOf(reg object) any {
	return dig(map[string]any(reg), "properties", "policies", "retentionPolicy")
}

func retentionUpdate() *cobra.Command {
	return leaf(spec{
		use: "update", short: "Update the retention policy for untagged manifests",
		example: "  moat acr config retention update --registry myregistry --status enabled --days 7 --type UntaggedManifests",
		group:   true, required: []string{"registry/-r"},
		flags: func(cmd *cobra.Command) {
			registryFlag(cmd)
			cmd.Flags().String("status", "", "enabled or disabled")
			cmd.Flags().String("days", "", "days an untagged manifest is kept, 0 to 365 (default: unchanged, 7 at first)")
			cmd.Flags().String("type", "UntaggedManifests", "what the policy applies to: UntaggedManifests")
		},
		table: retentionTable,
		run: func(x *exec) (any, error) {
			if _, err := x.enum("type", "UntaggedManifests"); err != nil {
				return nil, err
			}
			status, err := x.enum("status", "enabled", "disabled")
			if err != nil {
				return nil, err
			}
			days := -1
			if x.changed("days") {
				if days, err = strconv.Atoi(x.str("days")); err != nil || days < 0 || days > 365 {
					return nil, fmt.Errorf("argument --days: invalid value %q (use a whole number of days, 0 to 365)", x.str("days"))
				}
			}
			p, err := x.registryPath("registry")
			if err != nil {
				return nil, err
			}
			out, err := x.modify(http.MethodPatch, p, func(cur object) (any, error) {
				rp, _ := retentionOf(cur).(map[string]any)
				next := object{"days": rp["days"], "status": rp["status"]}
				if days >= 0 {
					next["days"] = days
				}
				if status != "" {
					next["status"] = status
				}
				return object{"properties": object{"policies": object{"retentionPolicy": next}}}, nil
			})
			if err != nil {
				return nil, err
			}
			return retentionOf(out), nil
		},
	})
}

func retentionShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show the retention policy for untagged manifests",
		example: "  moat acr config retention show --registry myregistry",
		group:   true, required: []string{"registry/-r"},
		flags: registryFlag,
		table: retentionTable,
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("registry")
			if err != nil {
				return nil, err
			}
			reg, _, err := x.c.get(p)
			if err != nil {
				return nil, err
			}
			return retentionOf(reg), nil
		},
	})
}

func acrGC() *cobra.Command {
	return leaf(spec{
		use: "gc", short: "Run garbage collection of a container registry now (moat only)",
		example: "  moat acr gc --name myregistry --dry-run",
		group:   true, required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			registryNameFlag(cmd)
			cmd.Flags().Bool("dry-run", false, "report what would be deleted without deleting it")
		},
		table: perItem(func(r any) row {
			return row{{"MANIFESTS DELETED", value(r, "result", "manifestsDeleted")}, {"LINKS REMOVED", value(r, "result", "linksRemoved")},
				{"BLOBS DELETED", value(r, "result", "blobsDeleted")}, {"BYTES FREED", value(r, "result", "bytesFreed")},
				{"DRY RUN", value(r, "result", "dryRun")}}
		}),
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			p += "/garbageCollect"
			if dry, _ := x.cmd.Flags().GetBool("dry-run"); dry {
				p += "?dryRun=true"
			}
			var out object
			if err := x.c.do(http.MethodPost, p, nil, &out); err != nil {
				return nil, err
			}
			return out, nil
		},
	})
}
