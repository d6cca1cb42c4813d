package cli

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/moat-registry/moat/internal/auth/scopemap"
	"github.com/spf13/cobra"
)

// `moat acr scope-map` (az acr scope-map): a registry's scope maps, the
// repository permissions that tokens are bound to (docs/registry.md).

func newACRScopeMap() *cobra.Command {
	flags := func(cmd *cobra.Command) {
		cmd.Flags().StringP("registry", "r", "", "name of the container registry")
		cmd.Flags().StringP("name", "n", "", "name of the scope map")
	}
	path := func(x *exec) (string, error) {
		p, err := x.registryPath("registry")
		return p + "/scopeMaps/" + x.str("name"), err
	}
	required := []string{"registry/-r", "name/-n"}
	create := leaf(spec{
		use: "create", short: "Create a scope map", group: true, required: required,
		example: "  moat acr scope-map create -r myregistry -n pull-hello --repository hello content/read metadata/read --repository samples/* content/read",
		flags: func(cmd *cobra.Command) {
			flags(cmd)
			listFlag(cmd, "repository", "", "REPO ACTION [ACTION ...]: a repository (or prefix/*, or *) and its actions: "+strings.Join(scopemap.Permissions, ", ")+"; repeatable")
			cmd.Flags().String("description", "", "description of the scope map (at most 256 characters)")
		},
		run: func(x *exec) (any, error) {
			acts, err := repositoryActions(x.listGroups("repository"))
			if err != nil {
				return nil, err
			}
			if len(acts) == 0 {
				return nil, fmt.Errorf("the following arguments are required: --repository")
			}
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			var out object
			return out, x.c.do(http.MethodPut, p, object{"properties": object{"actions": acts, "description": x.str("description")}}, &out)
		},
	})
	update := leaf(spec{
		use: "update", short: "Add or remove repository actions of a scope map, or change its description", group: true, required: required,
		example: "  moat acr scope-map update -r myregistry -n pull-hello --add-repository hello content/write --remove-repository samples/* content/read",
		flags: func(cmd *cobra.Command) {
			flags(cmd)
			listFlag(cmd, "add-repository", "", "REPO ACTION [ACTION ...] to add; repeatable")
			listFlag(cmd, "remove-repository", "", "REPO ACTION [ACTION ...] to remove; repeatable")
			cmd.Flags().String("description", "", "new description")
		},
		run: func(x *exec) (any, error) {
			add, err := repositoryActions(x.listGroups("add-repository"))
			if err != nil {
				return nil, err
			}
			remove, err := repositoryActions(x.listGroups("remove-repository"))
			if err != nil {
				return nil, err
			}
			if len(add)+len(remove) == 0 && !given(x.cmd, "description") {
				return nil, fmt.Errorf("no scope map properties to update")
			}
			for _, a := range add {
				if slices.Contains(remove, a) {
					return nil, fmt.Errorf("update ambiguity. Duplicate actions were provided with --add-repository and --remove-repository: %s", a)
				}
			}
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			cur, _, err := x.c.get(p)
			if err != nil {
				return nil, err
			}
			var acts []string
			if list, ok := dig(cur, "properties", "actions").([]any); ok {
				for _, a := range list {
					if s, _ := a.(string); !slices.Contains(remove, s) && !slices.Contains(acts, s) {
						acts = append(acts, s)
					}
				}
			}
			for _, a := range add {
				if !slices.Contains(acts, a) {
					acts = append(acts, a)
				}
			}
			props := object{"actions": acts}
			if given(x.cmd, "description") {
				props["description"] = x.str("description")
			}
			var out object
			return out, x.c.do(http.MethodPatch, p, object{"properties": props}, &out)
		},
	})
	show := leaf(spec{
		use: "show", short: "Show a scope map", group: true, required: required, flags: flags,
		run: func(x *exec) (any, error) {
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			out, _, err := x.c.get(p)
			return out, err
		},
	})
	list := leaf(spec{
		use: "list", short: "List the scope maps of a registry (the built-in ones too)", group: true, required: []string{"registry/-r"},
		flags: func(cmd *cobra.Command) { cmd.Flags().StringP("registry", "r", "", "name of the container registry") },
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("registry")
			if err != nil {
				return nil, err
			}
			return x.c.list(p + "/scopeMaps")
		},
	})
	del := leaf(spec{
		use: "delete", short: "Delete a scope map (its tokens lose their permissions)", group: true, required: required,
		flags: func(cmd *cobra.Command) { flags(cmd); yesFlag(cmd) },
		run: func(x *exec) (any, error) {
			if err := x.confirm(fmt.Sprintf("Deleting the scope map '%s' will remove its permissions with associated tokens. Proceed?", x.str("name"))); err != nil {
				return nil, err
			}
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			return nil, x.c.do(http.MethodDelete, p, nil, nil)
		},
	})
	return parent("scope-map", "Manage scope maps: repository permissions for tokens", create, update, show, list, del)
}

// repositoryActions turns az's --repository REPO ACTION [ACTION ...]
// groups into scope map actions, as az does: lower-cased, each action one
// of the repository permissions.
func repositoryActions(groups [][]string) ([]string, error) {
	var out []string
	for _, g := range groups {
		if len(g) < 2 {
			name := ""
			if len(g) == 1 {
				name = g[0]
			}
			return nil, fmt.Errorf("at least one action must be specified with %q", name)
		}
		repo := strings.ToLower(g[0])
		for _, a := range g[1:] {
			a = strings.ToLower(a)
			if !slices.Contains(scopemap.Permissions, a) {
				return nil, fmt.Errorf("invalid action %q provided. Valid actions are %s", a, strings.Join(scopemap.Permissions, ", "))
			}
			out = append(out, "repositories/"+repo+"/"+a)
		}
	}
	return out, nil
}
