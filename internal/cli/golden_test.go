package cli

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

// TestGolden checks the output of commands, mostly -o table (az's columns),
// against testdata/<name>.golden. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	reg := registryFixture("reg1", "rg1", rulesFixture())
	reg2 := registryFixture("reg2", "default", nil)
	dig(reg2, "properties").(map[string]any)["adminUserEnabled"] = true
	dig(reg2, "sku").(map[string]any)["name"] = "Basic"
	setup := func(f *fakeARM) {
		f.on("GET", "~/providers/Microsoft.ContainerRegistry/registries", 200, list(reg, reg2))
		f.on("GET", regID, 200, reg)
		f.on("PATCH", regID, 200, reg)
		f.on("GET", regID+"/privateEndpointConnections", 200, list(pecFixture("Approved"), pecFixture("Pending")))
		f.on("GET", regID+"/privateLinkResources", 200, list(object{
			"id": expandPath(regID + "/privateLinkResources/registry"), "name": "registry", "type": "Microsoft.ContainerRegistry/registries/privateLinkResources",
			"properties": object{"groupId": "registry", "requiredMembers": []any{"registry", "registry_data_westus"}, "requiredZoneNames": []any{"privatelink.moat.local"}},
		}))
		f.on("GET", "~/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks", 200, list(vnetFixture()))
		f.on("GET", vnetID, 200, vnetFixture())
		f.on("PUT", vnetID, 200, vnetFixture())
		f.on("GET", vnetID+"/subnets", 200, list(subnetFixture("subnet1", "Microsoft.ContainerRegistry"), subnetFixture("subnet2")))
		f.on("GET", "~/resourceGroups/rg1/providers/Microsoft.Network/privateEndpoints", 200, list(peFixture()))
		f.on("GET", peID, 200, peFixture())
		f.on("GET", "~/providers", 200, list(
			object{"id": expandPath("~/providers/Microsoft.ContainerRegistry"), "namespace": "Microsoft.ContainerRegistry", "registrationState": "Registered"},
			object{"id": expandPath("~/providers/Microsoft.Network"), "namespace": "Microsoft.Network", "registrationState": "NotRegistered"}))
		f.on("GET", "~/resourcegroups", 200, list(groupFixture("default", "local"), groupFixture("myResourceGroup", "westus")))
	}
	tests := []struct{ name, args string }{
		{"acr_list_table", "acr list -o table"},
		{"acr_show_table", "acr show -n reg1 -g rg1 -o table"},
		{"acr_show_json", "acr show -n reg1 -g rg1"},
		{"acr_show_tsv", "acr show -n reg1 -g rg1 -o tsv"},
		{"acr_update_table", "acr update -n reg1 -g rg1 --admin-enabled -o table"},
		{"acr_network_rule_list_json", "acr network-rule list -n reg1 -g rg1"},
		{"acr_network_rule_list_table", "acr network-rule list -n reg1 -g rg1 -o table"},
		{"acr_network_rule_add_table", "acr network-rule add -n reg1 -g rg1 --ip-address 8.8.8.8 -o table"},
		{"acr_pec_list_table", "acr private-endpoint-connection list -r reg1 -g rg1 -o table"},
		{"acr_plr_list_table", "acr private-link-resource list -r reg1 -g rg1 -o table"},
		{"vnet_list_table", "network vnet list -g rg1 -o table"},
		{"vnet_show_json", "network vnet show -g rg1 -n vnet1"},
		{"vnet_create_table", "network vnet create -g rg1 -n vnet1 -l westus -o table"},
		{"subnet_list_table", "network vnet subnet list -g rg1 --vnet-name vnet1 -o table"},
		{"pe_list_table", "network private-endpoint list -g rg1 -o table"},
		{"pe_show_json", "network private-endpoint show -g rg1 -n pe1"},
		{"provider_list_table", "provider list -o table"},
		{"group_list_table", "group list -o table"},
		{"account_list_table", "account list -o table"},
		{"query_table_order", "network vnet list -g rg1 -o table --query [].{Zone:name,Address:addressSpace.addressPrefixes[0],Count:length(subnets)}"},
		{"query_tsv_order", "network vnet list -g rg1 -o tsv --query [].{Zone:name,Address:addressSpace.addressPrefixes[0],Count:length(subnets)}"},
		{"query_yaml", "network vnet list -g rg1 -o yaml --query [].{Zone:name,Subnets:subnets[].name}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeARM(t)
			setup(f)
			out, errOut, code := f.run("", argv(tt.args)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if out != string(want) {
				t.Errorf("moat %s: output differs from %s:\n%s\nwant:\n%s", tt.args, path, out, want)
			}
		})
	}
}
