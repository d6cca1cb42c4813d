package cli

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// `moat acr token` (az acr token): repository-scoped credentials, a user
// name and two passwords bound to a scope map (docs/registry.md).

func newACRToken() *cobra.Command {
	flags := func(cmd *cobra.Command) {
		cmd.Flags().StringP("registry", "r", "", "name of the container registry")
		cmd.Flags().StringP("name", "n", "", "name of the token")
	}
	path := func(x *exec) (string, string, error) {
		p, err := x.registryPath("registry")
		return p, p + "/tokens/" + x.str("name"), err
	}
	required := []string{"registry/-r", "name/-n"}
	expiryFlags := func(cmd *cobra.Command) {
		cmd.Flags().String("expiration-in-days", "", "number of days the passwords are valid for (default: no expiry)")
		cmd.Flags().String("expiration", "", "UTC time the passwords expire, e.g. 2030-01-31T00:00:00Z")
	}
	create := leaf(spec{
		use: "create", short: "Create a token bound to a scope map, and its passwords", group: true, required: required,
		example: "  moat acr token create -r myregistry -n ci-pull --scope-map _repositories_pull\n" +
			"  moat acr token create -r myregistry -n hello-push --repository hello content/read content/write --expiration-in-days 30",
		flags: func(cmd *cobra.Command) {
			flags(cmd)
			cmd.Flags().String("scope-map", "", "name of the scope map the token is bound to")
			listFlag(cmd, "repository", "", "REPO ACTION [ACTION ...]: make the scope map <token>-scope-map with these actions; repeatable")
			cmd.Flags().String("status", "enabled", "enabled or disabled")
			cmd.Flags().Bool("no-passwords", false, "do not generate passwords now")
			expiryFlags(cmd)
		},
		run: func(x *exec) (any, error) {
			repos := x.listGroups("repository")
			if (len(repos) > 0) == (x.str("scope-map") != "") {
				return nil, errors.New("usage error: give either --scope-map or --repository")
			}
			noPw, _ := x.cmd.Flags().GetBool("no-passwords")
			if noPw && (x.str("expiration") != "" || x.str("expiration-in-days") != "") {
				return nil, errors.New("usage error: --no-passwords and expiration arguments are mutually exclusive")
			}
			expiry, err := x.expiry()
			if err != nil {
				return nil, err
			}
			status, err := x.enum("status", "enabled", "disabled")
			if err != nil {
				return nil, err
			}
			rp, p, err := path(x)
			if err != nil {
				return nil, err
			}
			smID := rp + "/scopeMaps/" + x.str("scope-map")
			if len(repos) > 0 {
				if smID, err = x.defaultScopeMap(rp, x.str("name"), repos); err != nil {
					return nil, err
				}
			}
			var tok object
			if err := x.c.do(http.MethodPut, p, object{"properties": object{"scopeMapId": smID, "status": status}}, &tok); err != nil {
				return nil, err
			}
			if noPw {
				return tok, nil
			}
			creds, err := x.generate(rp, p, "", expiry)
			if err != nil {
				return nil, err
			}
			if props, ok := tok["properties"].(map[string]any); ok {
				props["credentials"] = creds
			}
			reg, _, err := x.c.get(rp)
			if err == nil {
				if pws, ok := creds["passwords"].([]any); ok && len(pws) > 0 {
					fmt.Fprintf(x.cmd.ErrOrStderr(), "Please store your generated credentials safely. Meanwhile you can use it through \"docker login %s -u %s -p %s\".\n",
						str(reg, "properties", "loginServer"), str(creds, "username"), value(pws[0], "value"))
				}
			}
			return tok, nil
		},
	})
	update := leaf(spec{
		use: "update", short: "Change a token's scope map or status", group: true, required: required,
		example: "  moat acr token update -r myregistry -n ci-pull --status disabled",
		flags: func(cmd *cobra.Command) {
			flags(cmd)
			cmd.Flags().String("scope-map", "", "name of the scope map to bind the token to")
			cmd.Flags().String("status", "", "enabled or disabled")
		},
		run: func(x *exec) (any, error) {
			rp, p, err := path(x)
			if err != nil {
				return nil, err
			}
			props := object{}
			if sm := x.str("scope-map"); sm != "" {
				props["scopeMapId"] = rp + "/scopeMaps/" + sm
			}
			if x.str("status") != "" {
				if props["status"], err = x.enum("status", "enabled", "disabled"); err != nil {
					return nil, err
				}
			}
			var out object
			return out, x.c.do(http.MethodPatch, p, object{"properties": props}, &out)
		},
	})
	show := leaf(spec{
		use: "show", short: "Show a token (its passwords without their values)", group: true, required: required, flags: flags,
		run: func(x *exec) (any, error) {
			_, p, err := path(x)
			if err != nil {
				return nil, err
			}
			out, _, err := x.c.get(p)
			return out, err
		},
	})
	list := leaf(spec{
		use: "list", short: "List the tokens of a registry", group: true, required: []string{"registry/-r"},
		flags: func(cmd *cobra.Command) { cmd.Flags().StringP("registry", "r", "", "name of the container registry") },
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("registry")
			if err != nil {
				return nil, err
			}
			return x.c.list(p + "/tokens")
		},
	})
	del := leaf(spec{
		use: "delete", short: "Delete a token: its passwords stop working at once", group: true, required: required,
		flags: func(cmd *cobra.Command) { flags(cmd); yesFlag(cmd) },
		run: func(x *exec) (any, error) {
			if err := x.confirm(fmt.Sprintf("Deleting the token '%s' will invalidate access to anyone using its credentials. Proceed?", x.str("name"))); err != nil {
				return nil, err
			}
			_, p, err := path(x)
			if err != nil {
				return nil, err
			}
			return nil, x.c.do(http.MethodDelete, p, nil, nil)
		},
	})
	pwFlags := func(cmd *cobra.Command) {
		flags(cmd)
		cmd.Flags().Bool("password1", false, "password1")
		cmd.Flags().Bool("password2", false, "password2")
	}
	generate := leaf(spec{
		use: "generate", short: "Generate new passwords of a token (both unless one is named)", group: true, required: required,
		example: "  moat acr token credential generate -r myregistry -n ci-pull --password1 --expiration-in-days 30",
		flags:   func(cmd *cobra.Command) { pwFlags(cmd); expiryFlags(cmd) },
		run: func(x *exec) (any, error) {
			expiry, err := x.expiry()
			if err != nil {
				return nil, err
			}
			rp, p, err := path(x)
			if err != nil {
				return nil, err
			}
			p1, _ := x.cmd.Flags().GetBool("password1")
			p2, _ := x.cmd.Flags().GetBool("password2")
			name := ""
			if p1 != p2 {
				name = map[bool]string{true: "password1", false: "password2"}[p1]
			}
			return x.generate(rp, p, name, expiry)
		},
	})
	credDelete := leaf(spec{
		use: "delete", short: "Delete passwords of a token", group: true, required: required, flags: pwFlags,
		example: "  moat acr token credential delete -r myregistry -n ci-pull --password1",
		run: func(x *exec) (any, error) {
			p1, _ := x.cmd.Flags().GetBool("password1")
			p2, _ := x.cmd.Flags().GetBool("password2")
			if !p1 && !p2 {
				return nil, errors.New("no credentials to delete")
			}
			_, p, err := path(x)
			if err != nil {
				return nil, err
			}
			cur, _, err := x.c.get(p)
			if err != nil {
				return nil, err
			}
			drop := map[string]bool{"password1": p1, "password2": p2}
			have := map[string]bool{}
			keep := []object{}
			pws, _ := dig(cur, "properties", "credentials", "passwords").([]any)
			for _, pw := range pws {
				n := value(pw, "name")
				have[n] = true
				if !drop[n] {
					keep = append(keep, object{"name": n})
				}
			}
			for n, d := range drop {
				if d && !have[n] {
					return nil, fmt.Errorf("unable to perform operation. %s credential doesn't exist", n)
				}
			}
			var out object
			return out, x.c.do(http.MethodPatch, p, object{"properties": object{"credentials": object{"passwords": keep}}}, &out)
		},
	})
	return parent("token", "Manage tokens: repository-scoped credentials", create, update, show, list, del,
		parent("credential", "Manage a token's passwords", generate, credDelete))
}

// expiry reads --expiration-in-days or --expiration ("" when neither).
func (x *exec) expiry() (string, error) {
	days, at := x.str("expiration-in-days"), x.str("expiration")
	switch {
	case days != "" && at != "":
		return "", errors.New("usage error: --expiration and --expiration-in-days are mutually exclusive")
	case days != "":
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return "", errors.New("days must be positive")
		}
		return time.Now().UTC().AddDate(0, 0, n).Format(time.RFC3339), nil
	}
	return at, nil
}

// generate calls generateCredentials for the token at tokenPath.
func (x *exec) generate(regPath, tokenPath, name, expiry string) (object, error) {
	body := object{"tokenId": tokenPath}
	if name != "" {
		body["name"] = name
	}
	if expiry != "" {
		body["expiry"] = expiry
	}
	var out object
	return out, x.c.do(http.MethodPost, regPath+"/generateCredentials", body, &out)
}

// defaultScopeMap makes (or reuses, when its actions are the same) the
// scope map <token>-scope-map that az acr token create --repository makes.
func (x *exec) defaultScopeMap(regPath, token string, repos [][]string) (string, error) {
	acts, err := repositoryActions(repos)
	if err != nil {
		return "", err
	}
	p := regPath + "/scopeMaps/" + token + "-scope-map"
	if cur, _, err := x.c.get(p); err == nil {
		have, _ := dig(cur, "properties", "actions").([]any)
		if !sameActions(have, acts) {
			return "", fmt.Errorf("the default scope map was already configured with different repository permissions.\nPlease use \"moat acr scope-map update -r <registry> -n %s-scope-map --add-repository <REPO> --remove-repository <REPO>\" to update", token)
		}
		return str(cur, "id"), nil
	}
	var out object
	if err := x.c.do(http.MethodPut, p, object{"properties": object{"actions": acts, "description": "Created by token: " + token}}, &out); err != nil {
		return "", err
	}
	return str(out, "id"), nil
}

func sameActions(have []any, want []string) bool {
	if len(have) != len(want) {
		return false
	}
	set := map[string]bool{}
	for _, h := range have {
		s, _ := h.(string)
		set[s] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}
