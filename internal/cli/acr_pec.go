package cli

import (
	"net/http"

	"github.com/spf13/cobra"
)

// `acr private-endpoint-connection` and `acr private-link-resource`: the
// registry's child resources. Flags as in az: --registry-name/-r for the
// registry, --name/-n for the connection.

func newPrivateEndpointConnection() *cobra.Command {
	return parent("private-endpoint-connection",
		"Manage the private endpoint connections of a container registry (create them with `moat network private-endpoint create`)",
		pecList(), pecShow(), pecSetStatus("approve", "Approved"), pecSetStatus("reject", "Rejected"), pecDelete())
}

func newPrivateLinkResource() *cobra.Command {
	return parent("private-link-resource", "Show the private link resources of a container registry",
		leaf(spec{
			use: "list", short: "List the private link resources (group IDs) of a container registry",
			group: true, required: []string{"registry-name/-r"},
			flags: registryNameOnly,
			run: func(x *exec) (any, error) {
				p, err := x.registryPath("registry-name")
				if err != nil {
					return nil, err
				}
				out, err := x.c.list(p + "/privateLinkResources")
				return azView(out), err
			},
		}))
}

func registryNameOnly(cmd *cobra.Command) {
	cmd.Flags().StringP("registry-name", "r", "", "name of the container registry")
}

func pecFlags(cmd *cobra.Command) {
	registryNameOnly(cmd)
	cmd.Flags().StringP("name", "n", "", "name of the private endpoint connection")
}

// pecTable shows the connection state, which az's automatic table leaves out.
var pecTable = perItem(func(c any) row {
	return row{
		{"Name", str(c, "name")},
		{"PrivateEndpoint", nameOf(str(c, "privateEndpoint", "id"))},
		{"Status", str(c, "privateLinkServiceConnectionState", "status")},
		{"Description", str(c, "privateLinkServiceConnectionState", "description")},
		{"ProvisioningState", str(c, "provisioningState")},
		{"ResourceGroup", str(c, "resourceGroup")},
	}
})

// pecPath returns the path of the connection named by --name.
func (x *exec) pecPath() (string, error) {
	p, err := x.registryPath("registry-name")
	if err != nil {
		return "", err
	}
	return p + "/privateEndpointConnections/" + seg(x.str("name")), nil
}

func pecList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List the private endpoint connections of a container registry",
		group: true, required: []string{"registry-name/-r"},
		flags: registryNameOnly,
		table: pecTable,
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("registry-name")
			if err != nil {
				return nil, err
			}
			out, err := x.c.list(p + "/privateEndpointConnections")
			return azView(out), err
		},
	})
}

func pecShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show a private endpoint connection of a container registry",
		group: true, required: []string{"registry-name/-r", "name/-n"},
		flags: pecFlags,
		table: pecTable,
		run: func(x *exec) (any, error) {
			p, err := x.pecPath()
			if err != nil {
				return nil, err
			}
			out, _, err := x.c.get(p)
			return azView(out), err
		},
	})
}

// pecSetStatus is approve or reject: read the connection, PUT it back with
// the new status (and --description).
func pecSetStatus(verb, status string) *cobra.Command {
	return leaf(spec{
		use: verb, short: capitalize(verb) + " a private endpoint connection of a container registry",
		example: "  moat acr private-endpoint-connection " + verb + " --registry-name myregistry --name myconnection --description \"...\"",
		group:   true, required: []string{"registry-name/-r", "name/-n"},
		flags: func(cmd *cobra.Command) {
			pecFlags(cmd)
			cmd.Flags().String("description", "", "the reason for the "+map[string]string{"approve": "approval", "reject": "rejection"}[verb])
		},
		table: pecTable,
		run: func(x *exec) (any, error) {
			p, err := x.pecPath()
			if err != nil {
				return nil, err
			}
			out, err := x.modify(http.MethodPut, p, func(cur object) (any, error) {
				state := object{"status": status}
				if a := str(cur, "properties", "privateLinkServiceConnectionState", "actionsRequired"); a != "" {
					state["actionsRequired"] = a
				}
				if x.changed("description") {
					state["description"] = x.str("description")
				}
				return object{"properties": object{"privateLinkServiceConnectionState": state}}, nil
			})
			return azView(out), err
		},
	})
}

func pecDelete() *cobra.Command {
	return leaf(spec{
		use: "delete", short: "Delete a private endpoint connection of a container registry",
		group: true, required: []string{"registry-name/-r", "name/-n"},
		flags: pecFlags,
		run: func(x *exec) (any, error) {
			p, err := x.pecPath()
			if err != nil {
				return nil, err
			}
			return nil, x.c.do(http.MethodDelete, p, nil, nil)
		},
	})
}
