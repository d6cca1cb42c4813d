package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// `moat account`: the subscription commands work in, and who is signed in
// (`moat account show`). `moat account set` saves a default per server in
// the CLI's config file, $MOAT_CONFIG_DIR/config.json (default
// ~/.moat/config.json).

func newAccount() *cobra.Command {
	return parent("account", "Show who is signed in, and choose the subscription that commands work in",
		accountList(), accountShow(), accountSet(), accountClear())
}

// cliConfig is the CLI's config file.
type cliConfig struct {
	// Server is the server commands talk to when neither --server nor
	// MOAT_SERVER says: the last one signed in to with `moat login`.
	Server string `json:"server,omitempty"`
	// Subscriptions maps a server URL to its default subscription ID.
	Subscriptions map[string]string `json:"subscriptions,omitempty"`
	// CACertificates maps a server URL to the PEM of the CA that its
	// `moat login --ca-file` trusted (see ca.go).
	CACertificates map[string]string `json:"caCertificates,omitempty"`
}

func configPath() (string, error) {
	dir := os.Getenv("MOAT_CONFIG_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory for the CLI's config; set MOAT_CONFIG_DIR: %v", err)
		}
		dir = filepath.Join(home, ".moat")
	}
	return filepath.Join(dir, "config.json"), nil
}

func loadConfig() (cliConfig, error) {
	var cfg cliConfig
	p, err := configPath()
	if err != nil {
		return cfg, err
	}
	raw, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, fmt.Errorf("%s is not valid JSON: %v", p, err)
	}
	return cfg, nil
}

func saveConfig(cfg cliConfig) error {
	p, err := configPath()
	if err != nil {
		return err
	}
	return writePrivateJSON(p, cfg)
}

// savedSubscription is the default subscription saved for server base ("" if none).
func savedSubscription(base string) string {
	cfg, err := loadConfig()
	if err != nil {
		return ""
	}
	return cfg.Subscriptions[base]
}

// accountView is a subscription as `az account list` prints it (id is the
// subscription ID, name its display name).
func accountView(s object, current string) object {
	id := str(s, "subscriptionId")
	return object{"id": id, "name": str(s, "displayName"), "state": str(s, "state"), "isDefault": id == current}
}

var accountTable = perItem(func(a any) row {
	return row{{"Name", str(a, "name")}, {"SubscriptionId", str(a, "id")}, {"State", str(a, "state")}, {"IsDefault", dig(a, "isDefault")}}
})

// subscriptionFlags adds --subscription/-s and --name/-n, which name the
// subscription in `account set` and `account show`.
func subscriptionFlags(cmd *cobra.Command) {
	cmd.Flags().StringP("subscription", "s", "", "name or ID of the subscription")
	cmd.Flags().StringP("name", "n", "", "name or ID of the subscription (same as --subscription)")
}

// chosen applies --name as --subscription and returns the subscription ID.
func (x *exec) chosen() (string, error) {
	if n := x.str("name"); n != "" {
		if x.c.subFlag != "" && x.c.subFlag != n {
			return "", fmt.Errorf("usage error: --name and --subscription name the same subscription; give one")
		}
		x.c.subFlag = n
	}
	return x.c.subscription()
}

func accountList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List the server's subscriptions",
		table: accountTable,
		run: func(x *exec) (any, error) {
			cur, err := x.c.subscription()
			if err != nil {
				return nil, err
			}
			subs, err := x.c.subscriptions()
			if err != nil {
				return nil, err
			}
			sess, err := loadSession(x.c.base)
			if err != nil {
				return nil, err
			}
			out := []any{}
			for _, s := range subs {
				v := accountView(s, cur)
				v["cloudName"] = "moat"
				x.c.addIdentity(v, sess)
				out = append(out, v)
			}
			return out, nil
		},
	})
}

func accountShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show the subscription that commands work in",
		flags: subscriptionFlags,
		table: accountTable,
		run: func(x *exec) (any, error) {
			id, err := x.chosen()
			if err != nil {
				return nil, err
			}
			subs, err := x.c.subscriptions()
			if err != nil {
				return nil, err
			}
			sess, err := loadSession(x.c.base)
			if err != nil {
				return nil, err
			}
			for _, s := range subs {
				if str(s, "subscriptionId") == id {
					v := accountView(s, id)
					v["environmentName"] = "moat"
					x.c.addIdentity(v, sess)
					return v, nil
				}
			}
			return nil, fmt.Errorf("subscription %s not found", id)
		},
	})
}

func accountSet() *cobra.Command {
	return leaf(spec{
		use: "set", short: "Set the default subscription for this server",
		example: "  moat account set --subscription <name or ID>",
		flags:   subscriptionFlags,
		run: func(x *exec) (any, error) {
			if x.str("subscription") == "" && x.str("name") == "" {
				return nil, fmt.Errorf("the following arguments are required: --subscription/-s")
			}
			id, err := x.chosen()
			if err != nil {
				return nil, err
			}
			cfg, err := loadConfig()
			if err != nil {
				return nil, err
			}
			if cfg.Subscriptions == nil {
				cfg.Subscriptions = map[string]string{}
			}
			cfg.Subscriptions[x.c.base] = id
			return nil, saveConfig(cfg)
		},
	})
}

func accountClear() *cobra.Command {
	return leaf(spec{
		use: "clear", short: "Forget the default subscription set for this server",
		run: func(x *exec) (any, error) {
			cfg, err := loadConfig()
			if err != nil || cfg.Subscriptions[x.c.base] == "" {
				return nil, err
			}
			delete(cfg.Subscriptions, x.c.base)
			return nil, saveConfig(cfg)
		},
	})
}
