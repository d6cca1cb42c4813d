package cli

import (
	"net/http"

	"github.com/spf13/cobra"
)

const nsML = "Microsoft.MachineLearningServices"

// newML is `moat ml workspace`: machine-learning workspaces, here service
// instances of a trusted type whose processes get managed-identity tokens.
func newML() *cobra.Command {
	nameFlag := func(cmd *cobra.Command) { cmd.Flags().StringP("name", "n", "", "name of the workspace") }
	path := func(x *exec) (string, error) { return x.c.resourcePath(x.group(), nsML, "workspaces", x.str("name")) }
	create := leaf(spec{
		use: "create", short: "Create a workspace with a system-assigned identity; prints IDENTITY_ENDPOINT and IDENTITY_HEADER once",
		group: true, required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) { nameFlag(cmd); locationFlag(cmd) },
		run: func(x *exec) (any, error) {
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			var out object
			if err := x.c.do(http.MethodPut, p, object{"location": x.location(x.group()), "identity": object{"type": "SystemAssigned"}}, &out); err != nil {
				return nil, err
			}
			f := flatten(out)
			f["IDENTITY_ENDPOINT"], f["IDENTITY_HEADER"] = f["identityEndpoint"], f["instanceSecret"]
			return f, nil
		},
	})
	show := leaf(spec{
		use: "show", short: "Show a workspace", group: true, required: []string{"name/-n"}, flags: nameFlag,
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
		use: "list", short: "List the workspaces of a resource group", group: true,
		run: func(x *exec) (any, error) {
			p, err := x.c.resourcePath(x.group(), nsML, "workspaces")
			if err != nil {
				return nil, err
			}
			return x.c.list(p)
		},
	})
	del := leaf(spec{
		use: "delete", short: "Delete a workspace and its identity", group: true, required: []string{"name/-n"}, flags: nameFlag,
		run: func(x *exec) (any, error) {
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			return nil, x.c.do(http.MethodDelete, p, nil, nil)
		},
	})
	return parent("ml", "Manage machine-learning workspaces (trusted service instances)",
		parent("workspace", "Manage workspaces", create, show, list, del))
}
