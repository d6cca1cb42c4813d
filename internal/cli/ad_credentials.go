package cli

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/spf13/cobra"
)

// Changing credentials, as az does: a new password (or account state) for a
// user, a new secret for a service principal. Every refresh token issued
// from the old credential (docker login's identity token, moat acr login's)
// stops working at once.

func adUserUpdate() *cobra.Command {
	return leaf(spec{
		use: "update", short: "Change a user's password, display name or whether its account is enabled",
		example: "  moat ad user update --id alice --password <new password>\n" +
			"  moat ad user update --id alice --account-enabled false",
		required: []string{"id"},
		flags: func(cmd *cobra.Command) {
			cmd.Flags().String("id", "", "user principal name or object ID")
			cmd.Flags().String("password", "", "new password (at least 8 characters)")
			cmd.Flags().String("display-name", "", "new display name")
			cmd.Flags().String("account-enabled", "", "true or false: a disabled user cannot sign in and its tokens stop working")
			cmd.Flags().Bool("force-change-password-next-sign-in", false, "accepted for az compatibility; moat does not force a change")
		},
		run: func(x *exec) (any, error) {
			body := object{}
			if pw := x.str("password"); pw != "" {
				body["passwordProfile"] = object{"password": pw}
			}
			if d := x.str("display-name"); d != "" {
				body["displayName"] = d
			}
			if e := x.str("account-enabled"); e != "" {
				v, err := strconv.ParseBool(e)
				if err != nil {
					return nil, fmt.Errorf("--account-enabled %q: use true or false", e)
				}
				body["accountEnabled"] = v
			}
			if len(body) == 0 {
				return nil, fmt.Errorf("usage error: nothing to update: give --password, --display-name or --account-enabled")
			}
			return nil, x.c.do(http.MethodPatch, graphUsers+"/"+seg(x.str("id")), body, nil)
		},
	})
}

// adSPCredentialReset gives a service principal a new secret and, unless
// --append, removes the others; like az it prints {appId, password, tenant}.
func adSPCredentialReset() *cobra.Command {
	return leaf(spec{
		use: "reset", short: "Give a service principal a new secret (the old ones stop working unless --append)",
		example:  "  moat ad sp credential reset --id <appId>",
		required: []string{"id"},
		flags: func(cmd *cobra.Command) {
			cmd.Flags().String("id", "", "appId or object ID")
			cmd.Flags().Bool("append", false, "keep the existing secrets")
			cmd.Flags().String("display-name", "", "a name for the new secret")
		},
		run: func(x *exec) (any, error) {
			path := graphSPs + "/" + seg(x.str("id"))
			sp, _, err := x.c.get(path)
			if err != nil {
				return nil, err
			}
			var added object
			body := object{"passwordCredential": object{"displayName": x.str("display-name")}}
			if err := x.c.do(http.MethodPost, path+"/addPassword", body, &added); err != nil {
				return nil, err
			}
			tenant := ""
			if md, err := x.c.metadata(); err == nil {
				tenant = md.Authentication.Tenant
			}
			creds := object{"appId": str(sp, "appId"), "password": str(added, "secretText"), "tenant": tenant}
			if keep, _ := x.cmd.Flags().GetBool("append"); !keep {
				old, _ := dig(sp, "passwordCredentials").([]any)
				for _, c := range old {
					if err := x.c.do(http.MethodPost, path+"/removePassword", object{"keyId": str(c, "keyId")}, nil); err != nil {
						// The new secret is shown only now: print it before failing.
						_ = render(x.cmd, creds, nil)
						return nil, fmt.Errorf("the new secret was added (printed above), but removing the old secret %s failed: %v; it still works until removed: run the command again",
							str(c, "keyId"), err)
					}
				}
			}
			x.warn("The output includes credentials that you must protect. Be sure that you do not include these credentials in your code or check the credentials into your source control.")
			return creds, nil
		},
	})
}
