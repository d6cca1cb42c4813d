package cli

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

const nsIdentity = "Microsoft.ManagedIdentity"

// newIdentity is `moat identity`: user-assigned managed identities (az identity).
func newIdentity() *cobra.Command {
	nameFlag := func(cmd *cobra.Command) { cmd.Flags().StringP("name", "n", "", "name of the identity") }
	path := func(x *exec) (string, error) {
		return x.c.resourcePath(x.group(), nsIdentity, "userAssignedIdentities", x.str("name"))
	}
	create := leaf(spec{
		use: "create", short: "Create a user-assigned managed identity",
		group: true, required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) { nameFlag(cmd); locationFlag(cmd) },
		run: func(x *exec) (any, error) {
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			var out object
			err = x.c.do(http.MethodPut, p, object{"location": x.location(x.group())}, &out)
			return flatten(out), err
		},
	})
	show := leaf(spec{
		use: "show", short: "Show a user-assigned managed identity",
		group: true, required: []string{"name/-n"}, flags: nameFlag,
		run: func(x *exec) (any, error) {
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			out, _, err := x.c.get(p)
			return flatten(out), err
		},
	})
	list := leaf(spec{
		use: "list", short: "List user-assigned managed identities of a resource group",
		group: true,
		run: func(x *exec) (any, error) {
			p, err := x.c.resourcePath(x.group(), nsIdentity, "userAssignedIdentities")
			if err != nil {
				return nil, err
			}
			items, err := x.c.list(p)
			for i, it := range items {
				if o, ok := it.(object); ok {
					items[i] = flatten(o)
				}
			}
			return items, err
		},
	})
	del := leaf(spec{
		use: "delete", short: "Delete a user-assigned managed identity",
		group: true, required: []string{"name/-n"}, flags: nameFlag,
		run: func(x *exec) (any, error) {
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			return nil, x.c.do(http.MethodDelete, p, nil, nil)
		},
	})
	return parent("identity", "Manage user-assigned managed identities", create, show, list, del)
}

// flatten lifts properties into the object, as az prints identities.
func flatten(o object) object {
	if o == nil {
		return nil
	}
	out := object{}
	for k, v := range o {
		if k != "properties" {
			out[k] = v
		}
	}
	if p, ok := o["properties"].(map[string]any); ok {
		for k, v := range p {
			out[k] = v
		}
	}
	return out
}

// newACRIdentity is `moat acr identity assign|remove|show` (az acr identity).
func newACRIdentity() *cobra.Command {
	idFlags := func(cmd *cobra.Command) {
		registryNameFlag(cmd)
		listFlag(cmd, "identities", "", "[system] for the system-assigned identity and/or user-assigned identity IDs or names")
	}
	show := leaf(spec{
		use: "show", short: "Show the identities of a container registry",
		group: true, required: []string{"name/-n"}, flags: registryNameFlag,
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			reg, _, err := x.c.get(p)
			if err != nil {
				return nil, err
			}
			if id, ok := reg["identity"].(map[string]any); ok {
				return object(id), nil
			}
			return object{"type": "None"}, nil
		},
	})
	change := func(verb string) *cobra.Command {
		return leaf(spec{
			use: verb, short: strings.ToUpper(verb[:1]) + verb[1:] + " managed identities of a container registry",
			example: "  moat acr identity " + verb + " --name myregistry --identities [system]\n" +
				"  moat acr identity " + verb + " --name myregistry --identities myidentity",
			group: true, required: []string{"name/-n", "identities"}, flags: idFlags,
			run: func(x *exec) (any, error) {
				p, err := x.registryPath("name")
				if err != nil {
					return nil, err
				}
				out, err := x.modify(http.MethodPatch, p, func(reg object) (any, error) {
					return object{"identity": x.changeIdentities(reg, verb == "assign")}, nil
				})
				if err != nil {
					return nil, err
				}
				if id, ok := out["identity"].(map[string]any); ok {
					return object(id), nil
				}
				return object{"type": "None"}, nil
			},
		})
	}
	return parent("identity", "Manage the managed identities of a container registry", change("assign"), change("remove"), show)
}

// changeIdentities computes the registry's identity block after assigning
// or removing the --identities given.
func (x *exec) changeIdentities(reg object, assign bool) object {
	cur, _ := reg["identity"].(map[string]any)
	system := strings.Contains(fmt.Sprint(cur["type"]), "SystemAssigned")
	users := map[string]any{}
	if ua, ok := cur["userAssignedIdentities"].(map[string]any); ok {
		for k := range ua {
			users[k] = object{}
		}
	}
	for _, id := range x.list("identities") {
		if id == "[system]" {
			system = assign
			continue
		}
		if !strings.HasPrefix(id, "/") {
			if p, err := x.c.resourcePath(x.group(), nsIdentity, "userAssignedIdentities", id); err == nil {
				id = p
			}
		}
		matched := false
		for k := range users {
			if strings.EqualFold(k, id) {
				matched = true
				if !assign {
					delete(users, k)
				}
			}
		}
		if assign && !matched {
			users[id] = object{}
		}
	}
	var types []string
	if system {
		types = append(types, "SystemAssigned")
	}
	if len(users) > 0 {
		types = append(types, "UserAssigned")
	}
	if len(types) == 0 {
		return object{"type": "None"}
	}
	out := object{"type": strings.Join(types, ", ")}
	if len(users) > 0 {
		out["userAssignedIdentities"] = users
	}
	return out
}
