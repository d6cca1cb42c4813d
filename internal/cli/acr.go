package cli

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

var registryColumns = [][2]string{
	{"NAME", "name"}, {"RESOURCE GROUP", "resourceGroup"}, {"LOCATION", "location"}, {"SKU", "sku.name"},
	{"LOGIN SERVER", "properties.loginServer"}, {"CREATION DATE", "properties.creationDate"},
}

func newACR() *cobra.Command {
	acr := &cobra.Command{Use: "acr", Short: "Manage container registries"}
	acr.AddCommand(acrCreate(), acrShow(), acrList(), acrDelete())
	return acr
}

func registryFlags(cmd *cobra.Command) {
	cmd.Flags().StringP("name", "n", "", "registry name (5-50 letters and digits)")
	cmd.Flags().StringP("resource-group", "g", "default", "resource group")
	_ = cmd.MarkFlagRequired("name")
}

func registryPath(c *client, cmd *cobra.Command) (string, error) {
	name, _ := cmd.Flags().GetString("name")
	rg, _ := cmd.Flags().GetString("resource-group")
	gp, err := c.groupPath(rg)
	if err != nil {
		return "", err
	}
	return gp + "/providers/Microsoft.ContainerRegistry/registries/" + name, nil
}

// withGroup adds the resourceGroup field that az prints.
func withGroup(res map[string]any, rg string) map[string]any {
	res["resourceGroup"] = rg
	return res
}

func acrCreate() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a registry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := newClient(cmd)
			p, err := registryPath(c, cmd)
			if err != nil {
				return err
			}
			sku, _ := cmd.Flags().GetString("sku")
			loc, _ := cmd.Flags().GetString("location")
			body := map[string]any{"location": loc, "sku": map[string]string{"name": sku}, "properties": map[string]any{}}
			var out map[string]any
			if err := c.do(http.MethodPut, p, body, &out); err != nil {
				return err
			}
			rg, _ := cmd.Flags().GetString("resource-group")
			return print(cmd, withGroup(out, rg), registryColumns)
		},
	}
	registryFlags(cmd)
	cmd.Flags().String("sku", "", "Basic, Standard or Premium")
	cmd.Flags().StringP("location", "l", "", "location (default: the server's)")
	_ = cmd.MarkFlagRequired("sku")
	return cmd
}

func acrShow() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show a registry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := newClient(cmd)
			p, err := registryPath(c, cmd)
			if err != nil {
				return err
			}
			var out map[string]any
			if err := c.do(http.MethodGet, p, nil, &out); err != nil {
				return err
			}
			rg, _ := cmd.Flags().GetString("resource-group")
			return print(cmd, withGroup(out, rg), registryColumns)
		},
	}
	registryFlags(cmd)
	return cmd
}

func acrList() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List registries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := newClient(cmd)
			rg, _ := cmd.Flags().GetString("resource-group")
			gp, err := c.groupPath(rg)
			if err != nil {
				return err
			}
			var out struct {
				Value []map[string]any `json:"value"`
			}
			if err := c.do(http.MethodGet, gp+"/providers/Microsoft.ContainerRegistry/registries", nil, &out); err != nil {
				return err
			}
			for _, r := range out.Value {
				withGroup(r, rg)
			}
			return print(cmd, out.Value, registryColumns)
		},
	}
	cmd.Flags().StringP("resource-group", "g", "default", "resource group")
	return cmd
}

func acrDelete() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete a registry and all its content",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if yes, _ := cmd.Flags().GetBool("yes"); !yes {
				name, _ := cmd.Flags().GetString("name")
				return fmt.Errorf("deleting registry %s removes all its images: pass --yes to confirm", name)
			}
			c := newClient(cmd)
			p, err := registryPath(c, cmd)
			if err != nil {
				return err
			}
			return c.do(http.MethodDelete, p, nil, nil)
		},
	}
	registryFlags(cmd)
	cmd.Flags().BoolP("yes", "y", false, "do not prompt for confirmation")
	return cmd
}
