package cli

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

// `moat group`: resource groups. As in az, the group is named by --name/-n
// or --resource-group/-g.

func newGroup() *cobra.Command {
	return parent("group", "Manage resource groups",
		groupCreate(), groupShow(), groupList(), groupDelete(), groupExists())
}

func groupNameFlags(cmd *cobra.Command) {
	cmd.Flags().StringP("name", "n", "", "name of the resource group")
	cmd.Flags().StringP("resource-group", "g", "", "name of the resource group (same as --name)")
}

// groupName returns --name or --resource-group; def when neither is given
// ("" makes it required).
func (x *exec) groupName(def string) (string, error) {
	n, g := x.str("name"), x.str("resource-group")
	switch {
	case n != "" && g != "" && n != g:
		return "", fmt.Errorf("usage error: --name and --resource-group name the same group; give one")
	case n != "":
		return n, nil
	case g != "":
		return g, nil
	case def != "":
		return def, nil
	}
	return "", fmt.Errorf("the following arguments are required: --name/-n")
}

// rgPath returns /subscriptions/{sub}/resourcegroups/{name}.
func (x *exec) rgPath(def string) (string, string, error) {
	name, err := x.groupName(def)
	if err != nil {
		return "", "", err
	}
	sp, err := x.c.subPath()
	if err != nil {
		return "", "", err
	}
	return sp + "/resourcegroups/" + seg(name), name, nil
}

// groups lists the subscription's resource groups.
func (x *exec) groups() ([]object, error) {
	sp, err := x.c.subPath()
	if err != nil {
		return nil, err
	}
	items, err := x.c.list(sp + "/resourcegroups")
	return objects(items), err
}

// groupTable is az's group list table.
var groupTable = perItem(func(g any) row {
	return row{{"Name", str(g, "name")}, {"Location", str(g, "location")}, {"Status", str(g, "properties", "provisioningState")}}
})

func groupCreate() *cobra.Command {
	return leaf(spec{
		use: "create", short: "Create a resource group (or update its tags)",
		example: "  moat group create --name myResourceGroup --location westus",
		flags: func(cmd *cobra.Command) {
			groupNameFlags(cmd)
			cmd.Flags().StringP("location", "l", "", "location of the group (default: the server's)")
			tagsFlag(cmd)
		},
		run: func(x *exec) (any, error) {
			p, _, err := x.rgPath("")
			if err != nil {
				return nil, err
			}
			body := object{}
			if l := x.str("location"); l != "" {
				body["location"] = l
			}
			if x.changed("tags") {
				body["tags"] = x.tags()
			}
			return x.c.write(http.MethodPut, p, "", body)
		},
	})
}

func groupShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show a resource group (default: " + defaultGroup + ")",
		flags: groupNameFlags,
		run: func(x *exec) (any, error) {
			p, _, err := x.rgPath(defaultGroup)
			if err != nil {
				return nil, err
			}
			out, _, err := x.c.get(p)
			return out, err
		},
	})
}

func groupList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List resource groups",
		table: groupTable,
		run: func(x *exec) (any, error) {
			gs, err := x.groups()
			return anyList(gs), err
		},
	})
}

func groupDelete() *cobra.Command {
	return leaf(spec{
		use: "delete", short: "Delete a resource group and every resource in it",
		flags: func(cmd *cobra.Command) {
			groupNameFlags(cmd)
			yesFlag(cmd)
			cmd.Flags().Bool("no-wait", false, "do not wait for the deletion to finish (moat deletes at once)")
		},
		run: func(x *exec) (any, error) {
			p, name, err := x.rgPath("")
			if err != nil {
				return nil, err
			}
			if err := x.confirm("Are you sure you want to delete the resource group '" + name + "' and all its resources?"); err != nil {
				return nil, err
			}
			return nil, x.c.do(http.MethodDelete, p, nil, nil)
		},
	})
}

func groupExists() *cobra.Command {
	return leaf(spec{
		use: "exists", short: "Print true if the resource group exists, else false",
		flags: groupNameFlags,
		run: func(x *exec) (any, error) {
			p, _, err := x.rgPath("")
			if err != nil {
				return nil, err
			}
			_, _, err = x.c.get(p)
			if isStatus(err, http.StatusNotFound) {
				return false, nil
			}
			return err == nil, err
		},
	})
}
