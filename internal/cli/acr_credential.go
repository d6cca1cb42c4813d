package cli

import (
	"net/http"

	"github.com/spf13/cobra"
)

// `moat acr credential show|renew`: the registry's admin user (user name:
// the registry's name; two passwords), which exists while the registry has
// adminUserEnabled (moat acr update --admin-enabled true).

func newCredential() *cobra.Command {
	return parent("credential", "Manage the admin user credentials of a container registry",
		credentialShow(), credentialRenew())
}

// credentialTable is az's: USERNAME, PASSWORD, PASSWORD2.
var credentialTable = perItem(func(c any) row {
	pw := func(i int) string {
		if ps, ok := dig(c, "passwords").([]any); ok && i < len(ps) {
			return value(ps[i], "value")
		}
		return " "
	}
	return row{{"USERNAME", value(c, "username")}, {"PASSWORD", pw(0)}, {"PASSWORD2", pw(1)}}
})

func credentialShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show the admin user credentials of a container registry",
		example: "  moat acr credential show --name myregistry",
		group:   true, required: []string{"name/-n"},
		flags: registryNameFlag,
		table: credentialTable,
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			var out object
			if err := x.c.do(http.MethodPost, p+"/listCredentials", nil, &out); err != nil {
				return nil, err
			}
			return out, nil
		},
	})
}

func credentialRenew() *cobra.Command {
	return leaf(spec{
		use: "renew", short: "Regenerate one of the admin user passwords of a container registry",
		example: "  moat acr credential renew --name myregistry --password-name password2",
		group:   true, required: []string{"name/-n", "password-name"},
		flags: func(cmd *cobra.Command) {
			registryNameFlag(cmd)
			cmd.Flags().String("password-name", "", "the password to regenerate: password or password2")
		},
		table: credentialTable,
		run: func(x *exec) (any, error) {
			which, err := x.enum("password-name", "password", "password2")
			if err != nil {
				return nil, err
			}
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			var out object
			if err := x.c.do(http.MethodPost, p+"/regenerateCredential", object{"name": which}, &out); err != nil {
				return nil, err
			}
			return out, nil
		},
	})
}
