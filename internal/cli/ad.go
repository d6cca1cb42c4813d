package cli

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/spf13/cobra"
)

// `moat ad`: users and service principals of the server's directory, through
// its Microsoft Graph-shaped API (/graph/v1.0/users, /graph/v1.0/servicePrincipals).

const (
	graphUsers = "/graph/v1.0/users"
	graphSPs   = "/graph/v1.0/servicePrincipals"
)

func newAD() *cobra.Command {
	return parent("ad", "Manage the server's directory: users and service principals",
		parent("user", "Manage users",
			adUserCreate(), adUserList(), adUserShow(), adUserUpdate(), adUserDelete()),
		parent("sp", "Manage service principals",
			adSPCreateForRBAC(), adSPList(), adSPShow(), adSPDelete(),
			parent("credential", "Manage a service principal's secrets", adSPCredentialReset())))
}

func idFlag(what string) func(cmd *cobra.Command) {
	return func(cmd *cobra.Command) {
		cmd.Flags().String("id", "", what)
	}
}

func adUserCreate() *cobra.Command {
	return leaf(spec{
		use: "create", short: "Create a user",
		example:  "  moat ad user create --user-principal-name alice@example.com --display-name Alice --password <password>",
		required: []string{"user-principal-name", "password"},
		flags: func(cmd *cobra.Command) {
			cmd.Flags().String("user-principal-name", "", "user principal name (sign-in name), e.g. alice or alice@example.com")
			cmd.Flags().String("display-name", "", "display name (default: the user principal name)")
			cmd.Flags().String("password", "", "password (at least 8 characters)")
			cmd.Flags().Bool("force-change-password-next-sign-in", false, "accepted for az compatibility; moat does not force a change")
		},
		run: func(x *exec) (any, error) {
			body := object{
				"accountEnabled":    true,
				"userPrincipalName": x.str("user-principal-name"),
				"passwordProfile":   object{"password": x.str("password")},
			}
			if d := x.str("display-name"); d != "" {
				body["displayName"] = d
			}
			var out object
			if err := x.c.do(http.MethodPost, graphUsers, body, &out); err != nil {
				return nil, err
			}
			return out, nil
		},
	})
}

// nameFilter keeps the items whose field equals want (case-insensitive), all when want is "".
func nameFilter(items []any, field, want string) []any {
	if want == "" {
		return items
	}
	out := []any{}
	for _, it := range items {
		if strings.EqualFold(str(it, field), want) {
			out = append(out, it)
		}
	}
	return out
}

func adUserList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List users",
		flags: func(cmd *cobra.Command) {
			cmd.Flags().String("upn", "", "only the user with this user principal name")
			cmd.Flags().String("display-name", "", "only users with this display name")
		},
		run: func(x *exec) (any, error) {
			items, err := x.c.list(graphUsers)
			if err != nil {
				return nil, err
			}
			return nameFilter(nameFilter(items, "userPrincipalName", x.str("upn")), "displayName", x.str("display-name")), nil
		},
	})
}

func adUserShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show a user",
		required: []string{"id"},
		flags:    idFlag("user principal name or object ID"),
		run: func(x *exec) (any, error) {
			out, _, err := x.c.get(graphUsers + "/" + seg(x.str("id")))
			return out, err
		},
	})
}

func adUserDelete() *cobra.Command {
	return leaf(spec{
		use: "delete", short: "Delete a user and its role assignments",
		required: []string{"id"},
		flags:    idFlag("user principal name or object ID"),
		run: func(x *exec) (any, error) {
			return nil, x.c.do(http.MethodDelete, graphUsers+"/"+seg(x.str("id")), nil, nil)
		},
	})
}

func adSPList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List service principals",
		flags: func(cmd *cobra.Command) {
			cmd.Flags().String("display-name", "", "only service principals with this display name")
			cmd.Flags().Bool("all", false, "accepted for az compatibility: every service principal is listed")
		},
		run: func(x *exec) (any, error) {
			items, err := x.c.list(graphSPs)
			if err != nil {
				return nil, err
			}
			return nameFilter(items, "displayName", x.str("display-name")), nil
		},
	})
}

func adSPShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show a service principal",
		required: []string{"id"},
		flags:    idFlag("appId or object ID"),
		run: func(x *exec) (any, error) {
			out, _, err := x.c.get(graphSPs + "/" + seg(x.str("id")))
			return out, err
		},
	})
}

func adSPDelete() *cobra.Command {
	return leaf(spec{
		use: "delete", short: "Delete a service principal and its role assignments",
		required: []string{"id"},
		flags:    idFlag("appId or object ID"),
		run: func(x *exec) (any, error) {
			return nil, x.c.do(http.MethodDelete, graphSPs+"/"+seg(x.str("id")), nil, nil)
		},
	})
}

// adSPCreateForRBAC creates a service principal and, with --role and
// --scopes, assigns it the role at each scope. Like az it prints the
// credentials once: {appId, displayName, password, tenant}.
func adSPCreateForRBAC() *cobra.Command {
	return leaf(spec{
		use: "create-for-rbac", short: "Create a service principal and assign it a role",
		example: "  moat ad sp create-for-rbac --name ci-push --role AcrPush \\\n" +
			"      --scopes /subscriptions/<sub>/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/myregistry",
		flags: func(cmd *cobra.Command) {
			cmd.Flags().StringP("name", "n", "", "display name of the service principal (default: moat-cli-<date>)")
			cmd.Flags().String("role", "", "role to assign at each of --scopes, e.g. AcrPull, AcrPush, Contributor")
			listFlag(cmd, "scopes", "", "space-separated scopes (resource IDs) at which to assign --role")
		},
		run: func(x *exec) (any, error) {
			role, scopes := x.str("role"), x.list("scopes")
			if (role == "") != (len(scopes) == 0) {
				return nil, fmt.Errorf("usage error: to create role assignments, specify both --role and --scopes")
			}
			var def rbac.Role
			if role != "" {
				var err error
				if def, err = roleByName(role); err != nil {
					return nil, err
				}
				for _, s := range scopes {
					if err := checkScope(s); err != nil {
						return nil, err
					}
				}
			}
			name := x.str("name")
			if name == "" {
				name = "moat-cli-" + time.Now().UTC().Format("2006-01-02-15-04-05")
			}
			existing, err := x.c.list(graphSPs)
			if err != nil {
				return nil, err
			}
			if e := nameFilter(existing, "displayName", name); len(e) > 0 {
				return nil, fmt.Errorf("a service principal named %q already exists (appId %s) and moat cannot reset its secret: delete it with `moat ad sp delete --id %s` and create it again, or choose another --name",
					name, str(e[0], "appId"), str(e[0], "appId"))
			}
			var sp object
			if err := x.c.do(http.MethodPost, graphSPs, object{"displayName": name}, &sp); err != nil {
				return nil, err
			}
			creds := object{"appId": str(sp, "appId"), "displayName": str(sp, "displayName"), "password": str(sp, "password"), "tenant": str(sp, "tenant")}
			for _, s := range scopes {
				x.warn("Creating '%s' role assignment under scope '%s'", def.Name, s)
				if _, err := x.assignRole(s, def, str(sp, "id"), "ServicePrincipal"); err != nil {
					// The secret is shown only now: print it before failing.
					_ = render(x.cmd, creds, nil)
					return nil, fmt.Errorf("the service principal %s was created (its credentials are printed above), but assigning %s at %s failed: %v; assign it with `moat role assignment create --assignee %s --role %q --scope %s`",
						str(sp, "appId"), def.Name, s, err, str(sp, "appId"), def.Name, s)
				}
			}
			x.warn("The output includes credentials that you must protect. Be sure that you do not include these credentials in your code or check the credentials into your source control.")
			return creds, nil
		},
	})
}
