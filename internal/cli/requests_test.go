package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/apiversion"
)

// want is one expected request; a nil body means "no body".
type want struct {
	method, path string
	body         any
	ifMatch      string
}

// TestRequests runs commands against the fake server and checks the requests
// they send: methods, paths and JSON bodies.
func TestRequests(t *testing.T) {
	reg := registryFixture("reg1", "rg1", rulesFixture())
	regPath := expandPath(regID)
	subnetPath := expandPath(subnetID)
	tests := []struct {
		name  string
		setup func(f *fakeARM)
		args  string
		stdin string
		want  []want
		// stdout, when set, must be contained in the output.
		stdout string
	}{
		{
			name: "acr create with every flag",
			setup: func(f *fakeARM) {
				f.on("PUT", regID, 201, reg)
			},
			args: "acr create -n reg1 -g rg1 --sku premium --location westus --admin-enabled --default-action deny " +
				"--public-network-enabled false --allow-trusted-services false --tags team=a b",
			want: []want{{method: "PUT", path: regID, body: object{
				"location": "westus", "sku": object{"name": "Premium"}, "tags": object{"team": "a", "b": ""},
				"properties": object{"adminUserEnabled": true, "publicNetworkAccess": "Disabled", "networkRuleBypassOptions": "None",
					"networkRuleSet": object{"defaultAction": "Deny"}},
			}}},
		},
		{
			name: "acr create takes the location of the group",
			setup: func(f *fakeARM) {
				f.on("GET", "~/resourceGroups/default", 200, groupFixture("default", "local"))
				f.on("PUT", "~/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/reg2", 201, registryFixture("reg2", "default", nil))
			},
			args: "acr create --name reg2 --sku Basic",
			want: []want{
				{method: "GET", path: "~/resourceGroups/default"},
				{method: "PUT", path: "~/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/reg2",
					body: object{"location": "local", "sku": object{"name": "Basic"}, "properties": object{}}},
			},
		},
		{
			name: "acr update finds the registry's group, then GET and PATCH with If-Match",
			setup: func(f *fakeARM) {
				f.on("GET", "~/providers/Microsoft.ContainerRegistry/registries", 200, list(reg))
				f.on("GET", regID, 200, reg, `"3"`)
				f.on("PATCH", regID, 200, reg)
			},
			args: "acr update --name REG1 --default-action Deny",
			want: []want{
				{method: "GET", path: "~/providers/Microsoft.ContainerRegistry/registries"},
				{method: "GET", path: regID},
				{method: "PATCH", path: regID, ifMatch: `"3"`, body: object{"properties": object{"networkRuleSet": object{
					"defaultAction":       "Deny",
					"ipRules":             []any{object{"action": "Allow", "value": "1.2.3.4"}, object{"action": "Allow", "value": "16.17.18.0/24"}},
					"virtualNetworkRules": []any{object{"action": "Allow", "id": subnetPath}},
				}}}},
			},
		},
		{
			name: "acr update with the other flags",
			setup: func(f *fakeARM) {
				f.on("GET", regID, 200, reg)
				f.on("PATCH", regID, 200, reg)
			},
			args: "acr update -n reg1 -g rg1 --sku standard --admin-enabled false --anonymous-pull-enabled --data-endpoint-enabled true " +
				"--public-network-enabled --allow-trusted-services true",
			want: []want{
				{method: "GET", path: regID},
				{method: "PATCH", path: regID, body: object{"sku": object{"name": "Standard"}, "properties": object{
					"adminUserEnabled": false, "anonymousPullEnabled": true, "dataEndpointEnabled": true,
					"publicNetworkAccess": "Enabled", "networkRuleBypassOptions": "AzureServices",
				}}},
			},
		},
		{
			name: "acr update retries after a 412",
			setup: func(f *fakeARM) {
				f.on("GET", regID, 200, reg, `"3"`).on("GET", regID, 200, reg, `"4"`)
				f.on("PATCH", regID, 412, armError("PreconditionFailed", "changed")).on("PATCH", regID, 200, reg)
			},
			args: "acr update -n reg1 -g rg1 --admin-enabled",
			want: []want{
				{method: "GET", path: regID},
				{method: "PATCH", path: regID, ifMatch: `"3"`, body: object{"properties": object{"adminUserEnabled": true}}},
				{method: "GET", path: regID},
				{method: "PATCH", path: regID, ifMatch: `"4"`, body: object{"properties": object{"adminUserEnabled": true}}},
			},
		},
		{
			name:  "acr update without changes only reads",
			setup: func(f *fakeARM) { f.on("GET", regID, 200, reg) },
			args:  "acr update -n reg1 -g rg1",
			want:  []want{{method: "GET", path: regID}},
		},
		{
			name:   "acr show",
			setup:  func(f *fakeARM) { f.on("GET", regID, 200, reg) },
			args:   "acr show -n reg1 -g rg1 --query loginServer -o tsv",
			want:   []want{{method: "GET", path: regID}},
			stdout: "127.0.0.1:5000/reg1\n",
		},
		{
			name:  "acr list of the subscription",
			setup: func(f *fakeARM) { f.on("GET", "~/providers/Microsoft.ContainerRegistry/registries", 200, list(reg)) },
			args:  "acr list",
			want:  []want{{method: "GET", path: "~/providers/Microsoft.ContainerRegistry/registries"}},
		},
		{
			name: "acr list of a group follows nextLink",
			setup: func(f *fakeARM) {
				f.on("GET", "~/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries", 200,
					object{"value": []any{reg}, "nextLink": expandPath("~/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries") + "?api-version=" + apiversion.ForClient(expandPath("~/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries")) + "&page=2"}).
					on("GET", "~/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries", 200, list())
			},
			args: "acr list -g rg1 --query length(@)",
			want: []want{
				{method: "GET", path: "~/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries"},
				{method: "GET", path: "~/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries"},
			},
			stdout: "1\n",
		},
		{
			name:  "acr delete with --yes",
			setup: func(f *fakeARM) { f.on("DELETE", regID, 200, nil) },
			args:  "acr delete -n reg1 -g rg1 --yes",
			want:  []want{{method: "DELETE", path: regID}},
		},
		{
			name:  "acr delete confirmed at the prompt",
			setup: func(f *fakeARM) { f.on("DELETE", regID, 200, nil) },
			args:  "acr delete -n reg1 -g rg1",
			stdin: "y\n",
			want:  []want{{method: "DELETE", path: regID}},
		},
		{
			name: "network-rule add --ip-address",
			setup: func(f *fakeARM) {
				f.on("GET", regID, 200, reg, `"5"`)
				f.on("PATCH", regID, 200, reg)
			},
			args: "acr network-rule add -n reg1 -g rg1 --ip-address 23.45.1.0/24",
			want: []want{
				{method: "GET", path: regID},
				{method: "PATCH", path: regID, ifMatch: `"5"`, body: object{"properties": object{"networkRuleSet": object{
					"defaultAction": "Deny",
					"ipRules": []any{object{"action": "Allow", "value": "1.2.3.4"}, object{"action": "Allow", "value": "16.17.18.0/24"},
						object{"action": "Allow", "value": "23.45.1.0/24"}},
					"virtualNetworkRules": []any{object{"action": "Allow", "id": subnetPath}},
				}}}},
			},
			stdout: `"ipAddressOrRange": "16.17.18.0/24"`,
		},
		{
			name:  "network-rule add of a rule already there does not write",
			setup: func(f *fakeARM) { f.on("GET", regID, 200, reg) },
			args:  "acr network-rule add -n reg1 -g rg1 --ip-address 1.2.3.4/32",
			want:  []want{{method: "GET", path: regID}},
		},
		{
			name: "network-rule add --subnet NAME --vnet-name NAME",
			setup: func(f *fakeARM) {
				f.on("GET", regID, 200, registryFixture("reg1", "rg1", nil))
				f.on("PATCH", regID, 200, reg)
			},
			args: "acr network-rule add -n reg1 -g rg1 --vnet-name vnet1 --subnet subnet9",
			want: []want{
				{method: "GET", path: regID},
				{method: "PATCH", path: regID, body: object{"properties": object{"networkRuleSet": object{
					"defaultAction": "Allow", "ipRules": []any{},
					"virtualNetworkRules": []any{object{"action": "Allow", "id": expandPath(vnetID + "/subnets/subnet9")}},
				}}}},
			},
		},
		{
			name: "network-rule remove --ip-address in another spelling",
			setup: func(f *fakeARM) {
				f.on("GET", regID, 200, reg)
				f.on("PATCH", regID, 200, reg)
			},
			args: "acr network-rule remove -n reg1 -g rg1 --ip-address 1.2.3.4/32",
			want: []want{
				{method: "GET", path: regID},
				{method: "PATCH", path: regID, body: object{"properties": object{"networkRuleSet": object{
					"defaultAction":       "Deny",
					"ipRules":             []any{object{"action": "Allow", "value": "16.17.18.0/24"}},
					"virtualNetworkRules": []any{object{"action": "Allow", "id": subnetPath}},
				}}}},
			},
		},
		{
			name: "network-rule remove --subnet ID compares case-insensitively",
			setup: func(f *fakeARM) {
				f.on("GET", regID, 200, reg)
				f.on("PATCH", regID, 200, reg)
			},
			args: "acr network-rule remove -n reg1 -g rg1 --subnet " + strings.ToUpper(subnetPath),
			want: []want{
				{method: "GET", path: regID},
				{method: "PATCH", path: regID, body: object{"properties": object{"networkRuleSet": object{
					"defaultAction":       "Deny",
					"ipRules":             []any{object{"action": "Allow", "value": "1.2.3.4"}, object{"action": "Allow", "value": "16.17.18.0/24"}},
					"virtualNetworkRules": []any{},
				}}}},
			},
		},
		{
			name:   "network-rule list",
			setup:  func(f *fakeARM) { f.on("GET", regID, 200, reg) },
			args:   "acr network-rule list -n reg1 -g rg1 --query ipRules[].ipAddressOrRange -o tsv",
			want:   []want{{method: "GET", path: regID}},
			stdout: "1.2.3.4\n16.17.18.0/24\n",
		},
		{
			name: "private-endpoint-connection approve",
			setup: func(f *fakeARM) {
				f.on("GET", pecID, 200, pecFixture("Pending"), `"2"`)
				f.on("PUT", pecID, 200, pecFixture("Approved"))
			},
			args: "acr private-endpoint-connection approve -r reg1 -g rg1 -n pe1.conn --description ok",
			want: []want{
				{method: "GET", path: pecID},
				{method: "PUT", path: pecID, ifMatch: `"2"`, body: object{"properties": object{"privateLinkServiceConnectionState": object{
					"status": "Approved", "description": "ok", "actionsRequired": "None"}}}},
			},
		},
		{
			name: "private-endpoint-connection reject",
			setup: func(f *fakeARM) {
				f.on("GET", pecID, 200, pecFixture("Pending"))
				f.on("PUT", pecID, 200, pecFixture("Rejected"))
			},
			args: "acr private-endpoint-connection reject --registry-name reg1 -g rg1 --name pe1.conn",
			want: []want{
				{method: "GET", path: pecID},
				{method: "PUT", path: pecID, body: object{"properties": object{"privateLinkServiceConnectionState": object{
					"status": "Rejected", "actionsRequired": "None"}}}},
			},
		},
		{
			name:   "private-endpoint-connection show, list, delete",
			setup:  func(f *fakeARM) { f.on("GET", pecID, 200, pecFixture("Approved")) },
			args:   "acr private-endpoint-connection show -r reg1 -g rg1 -n pe1.conn --query privateLinkServiceConnectionState.status -o tsv",
			want:   []want{{method: "GET", path: pecID}},
			stdout: "Approved\n",
		},
		{
			name:  "private-endpoint-connection list",
			setup: func(f *fakeARM) { f.on("GET", regID+"/privateEndpointConnections", 200, list(pecFixture("Approved"))) },
			args:  "acr private-endpoint-connection list -r reg1 -g rg1",
			want:  []want{{method: "GET", path: regID + "/privateEndpointConnections"}},
		},
		{
			name:  "private-endpoint-connection delete",
			setup: func(f *fakeARM) { f.on("DELETE", pecID, 200, nil) },
			args:  "acr private-endpoint-connection delete -r reg1 -g rg1 -n pe1.conn",
			want:  []want{{method: "DELETE", path: pecID}},
		},
		{
			name:  "private-link-resource list",
			setup: func(f *fakeARM) { f.on("GET", regID+"/privateLinkResources", 200, list()) },
			args:  "acr private-link-resource list --registry-name reg1 -g rg1",
			want:  []want{{method: "GET", path: regID + "/privateLinkResources"}},
		},
		{
			name: "vnet create with a subnet and az's default prefixes",
			setup: func(f *fakeARM) {
				f.on("PUT", vnetID, 201, vnetFixture())
			},
			args: "network vnet create -g rg1 -n vnet1 -l westus --address-prefixes 10.1.0.0/16 10.2.0.0/16 --subnet-name subnet1 --tags env=test",
			want: []want{{method: "PUT", path: vnetID, body: object{"location": "westus", "tags": object{"env": "test"}, "properties": object{
				"addressSpace": object{"addressPrefixes": []any{"10.1.0.0/16", "10.2.0.0/16"}},
				"subnets":      []any{object{"name": "subnet1", "properties": object{"addressPrefix": "10.1.0.0/24"}}},
			}}}},
			stdout: `"newVNet"`,
		},
		{
			name: "vnet create defaults",
			setup: func(f *fakeARM) {
				f.on("GET", "~/resourceGroups/rg1", 200, groupFixture("rg1", "westus"))
				f.on("PUT", vnetID, 201, vnetFixture())
			},
			args: "network vnet create -g rg1 -n vnet1 --subnet-name s --subnet-prefixes 10.0.1.0/24 10.0.2.0/24",
			want: []want{
				{method: "GET", path: "~/resourceGroups/rg1"},
				{method: "PUT", path: vnetID, body: object{"location": "westus", "properties": object{
					"addressSpace": object{"addressPrefixes": []any{"10.0.0.0/16"}},
					"subnets":      []any{object{"name": "s", "properties": object{"addressPrefixes": []any{"10.0.1.0/24", "10.0.2.0/24"}}}},
				}}},
			},
		},
		{
			name: "vnet list of every group",
			setup: func(f *fakeARM) {
				f.on("GET", "~/resourcegroups", 200, list(groupFixture("default", "local"), groupFixture("rg1", "westus")))
				f.on("GET", "~/resourceGroups/default/providers/Microsoft.Network/virtualNetworks", 200, list())
				f.on("GET", "~/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks", 200, list(vnetFixture()))
			},
			args: "network vnet list --query [].{Name:name,Subnet:subnets[0].name}",
			want: []want{
				{method: "GET", path: "~/resourcegroups"},
				{method: "GET", path: "~/resourceGroups/default/providers/Microsoft.Network/virtualNetworks"},
				{method: "GET", path: "~/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks"},
			},
			stdout: "[\n  {\n    \"Name\": \"vnet1\",\n    \"Subnet\": \"subnet1\"\n  }\n]\n",
		},
		{
			name:  "vnet show and delete",
			setup: func(f *fakeARM) { f.on("DELETE", vnetID, 200, nil) },
			args:  "network vnet delete -g rg1 -n vnet1",
			want:  []want{{method: "DELETE", path: vnetID}},
		},
		{
			name:  "subnet create",
			setup: func(f *fakeARM) { f.on("PUT", subnetID, 201, subnetFixture("subnet1")) },
			args:  "network vnet subnet create -g rg1 --vnet-name vnet1 -n subnet1 --address-prefixes 10.0.0.0/24 --service-endpoints Microsoft.ContainerRegistry Microsoft.Storage",
			want: []want{{method: "PUT", path: subnetID, body: object{"properties": object{
				"addressPrefix":    "10.0.0.0/24",
				"serviceEndpoints": []any{object{"service": "Microsoft.ContainerRegistry"}, object{"service": "Microsoft.Storage"}},
			}}}},
		},
		{
			name: `subnet update --service-endpoints ""`,
			setup: func(f *fakeARM) {
				f.on("GET", subnetID, 200, subnetFixture("subnet1", "Microsoft.ContainerRegistry"), `"7"`)
				f.on("PUT", subnetID, 200, subnetFixture("subnet1"))
			},
			args: `network vnet subnet update -g rg1 --vnet-name vnet1 --name subnet1 --service-endpoints ""`,
			want: []want{
				{method: "GET", path: subnetID},
				{method: "PUT", path: subnetID, ifMatch: `"7"`, body: object{"properties": object{"addressPrefix": "10.0.0.0/24", "serviceEndpoints": []any{}}}},
			},
		},
		{
			name: "subnet update keeps what it does not change",
			setup: func(f *fakeARM) {
				f.on("GET", subnetID, 200, subnetFixture("subnet1", "Microsoft.Storage"))
				f.on("PUT", subnetID, 200, subnetFixture("subnet1"))
			},
			args: "network vnet subnet update -g rg1 --vnet-name vnet1 --name subnet1 --address-prefix 10.0.4.0/24",
			want: []want{
				{method: "GET", path: subnetID},
				{method: "PUT", path: subnetID, ifMatch: `"7"`, body: object{"properties": object{"addressPrefix": "10.0.4.0/24",
					"serviceEndpoints": []any{object{"service": "Microsoft.Storage", "locations": []any{"*"}}}}}},
			},
		},
		{
			name:   "subnet show",
			setup:  func(f *fakeARM) { f.on("GET", subnetID, 200, subnetFixture("subnet1")) },
			args:   "network vnet subnet show --name subnet1 --vnet-name vnet1 --resource-group rg1 --query id --output tsv",
			want:   []want{{method: "GET", path: subnetID}},
			stdout: expandPath(subnetID) + "\n",
		},
		{
			name:  "subnet list and delete",
			setup: func(f *fakeARM) { f.on("DELETE", subnetID, 200, nil) },
			args:  "network vnet subnet delete -g rg1 --vnet-name vnet1 -n subnet1",
			want:  []want{{method: "DELETE", path: subnetID}},
		},
		{
			name:  "private-endpoint create",
			setup: func(f *fakeARM) { f.on("PUT", peID, 201, peFixture()) },
			args: "network private-endpoint create -g rg1 -n pe1 -l westus --vnet-name vnet1 --subnet subnet1 --private-connection-resource-id " +
				expandPath(regID) + " --group-id registry --connection-name conn --ip-address 10.0.0.9",
			want: []want{{method: "PUT", path: peID, body: object{"location": "westus", "properties": object{
				"subnet": object{"id": subnetPath},
				"privateLinkServiceConnections": []any{object{"name": "conn", "properties": object{
					"privateLinkServiceId": regPath, "groupIds": []any{"registry"}}}},
				"ipConfigurations": []any{object{"name": "pe1-ipconfig", "properties": object{"privateIPAddress": "10.0.0.9", "groupId": "registry", "memberName": "registry"}}},
			}}}},
		},
		{
			name:  "private-endpoint create, manual request, --ip-config",
			setup: func(f *fakeARM) { f.on("PUT", peID, 201, peFixture()) },
			args: "network private-endpoint create -g rg1 -n pe1 -l westus --subnet " + subnetPath + " --private-connection-resource-id " +
				regPath + " --group-ids registry --connection-name conn --manual-request --request-message please " +
				"--ip-config name=a private-ip-address=10.0.0.7 --ip-config name=b member-name=registry_data_westus private-ip-address=10.0.0.8 --nic-name nic1",
			want: []want{{method: "PUT", path: peID, body: object{"location": "westus", "properties": object{
				"subnet": object{"id": subnetPath},
				"manualPrivateLinkServiceConnections": []any{object{"name": "conn", "properties": object{
					"privateLinkServiceId": regPath, "groupIds": []any{"registry"}, "requestMessage": "please"}}},
				"ipConfigurations": []any{
					object{"name": "a", "properties": object{"privateIPAddress": "10.0.0.7", "groupId": "registry", "memberName": "registry"}},
					object{"name": "b", "properties": object{"privateIPAddress": "10.0.0.8", "groupId": "registry", "memberName": "registry_data_westus"}},
				},
				"customNetworkInterfaceName": "nic1",
			}}}},
		},
		{
			name:   "private-endpoint show",
			setup:  func(f *fakeARM) { f.on("GET", peID, 200, peFixture()) },
			args:   "network private-endpoint show -g rg1 -n pe1 --query privateLinkServiceConnections[0].privateLinkServiceConnectionState.status -o tsv",
			want:   []want{{method: "GET", path: peID}},
			stdout: "Approved\n",
		},
		{
			name: "private-endpoint list of a group",
			setup: func(f *fakeARM) {
				f.on("GET", "~/resourceGroups/rg1/providers/Microsoft.Network/privateEndpoints", 200, list(peFixture()))
			},
			args: "network private-endpoint list -g rg1",
			want: []want{{method: "GET", path: "~/resourceGroups/rg1/providers/Microsoft.Network/privateEndpoints"}},
		},
		{
			name:  "private-endpoint delete",
			setup: func(f *fakeARM) { f.on("DELETE", peID, 200, nil) },
			args:  "network private-endpoint delete -g rg1 -n pe1",
			want:  []want{{method: "DELETE", path: peID}},
		},
		{
			name: "provider register prints nothing",
			setup: func(f *fakeARM) {
				f.on("POST", "~/providers/Microsoft.ContainerRegistry/register", 200, object{"namespace": "Microsoft.ContainerRegistry", "registrationState": "Registered"})
			},
			args: "provider register --namespace Microsoft.ContainerRegistry --subscription moat",
			want: []want{{method: "POST", path: "~/providers/Microsoft.ContainerRegistry/register"}},
		},
		{
			name:  "provider unregister",
			setup: func(f *fakeARM) { f.on("POST", "~/providers/Microsoft.Network/unregister", 200, object{}) },
			args:  "provider unregister -n Microsoft.Network --subscription " + testSub,
			want:  []want{{method: "POST", path: "~/providers/Microsoft.Network/unregister"}},
		},
		{
			name: "provider show",
			setup: func(f *fakeARM) {
				f.on("GET", "~/providers/Microsoft.Network", 200, object{"namespace": "Microsoft.Network", "registrationState": "Registered"})
			},
			args:   "provider show -n Microsoft.Network --query registrationState -o tsv",
			want:   []want{{method: "GET", path: "~/providers/Microsoft.Network"}},
			stdout: "Registered\n",
		},
		{
			name: "group create",
			setup: func(f *fakeARM) {
				f.on("PUT", "~/resourcegroups/myResourceGroup", 201, groupFixture("myResourceGroup", "westus"))
			},
			args: "group create --name myResourceGroup --location westus",
			want: []want{{method: "PUT", path: "~/resourcegroups/myResourceGroup", body: object{"location": "westus"}}},
		},
		{
			name:  "group delete",
			setup: func(f *fakeARM) { f.on("DELETE", "~/resourcegroups/g1", 200, nil) },
			args:  "group delete -g g1 --yes --no-wait",
			want:  []want{{method: "DELETE", path: "~/resourcegroups/g1"}},
		},
		{
			name:   "group exists",
			args:   "group exists -n nothere",
			want:   []want{{method: "GET", path: "~/resourcegroups/nothere"}},
			stdout: "false\n",
		},
		{
			name:  "group show defaults to the default group",
			setup: func(f *fakeARM) { f.on("GET", "~/resourcegroups/default", 200, groupFixture("default", "local")) },
			args:  "group show",
			want:  []want{{method: "GET", path: "~/resourcegroups/default"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeARM(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			out, errOut, code := f.run(tt.stdin, argv(tt.args)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			got := f.requests()
			if len(got) != len(tt.want) {
				t.Fatalf("requests: got %v, want %v", got, tt.want)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Method != w.method || !strings.EqualFold(g.Path, expandPath(w.path)) {
					t.Errorf("request %d: got %s %s, want %s %s", i, g.Method, g.Path, w.method, expandPath(w.path))
				}
				if want := apiversion.ForClient(g.Path); g.APIVersion != want {
					t.Errorf("request %d: api-version %q, want %q", i, g.APIVersion, want)
				}
				if g.IfMatch != w.ifMatch {
					t.Errorf("request %d: If-Match %q, want %q", i, g.IfMatch, w.ifMatch)
				}
				if w.body == nil && g.Body != nil || w.body != nil && !jsonEqual(g.Body, w.body) {
					t.Errorf("request %d (%s): body\n%s\nwant\n%s", i, g, pretty(g.Body), pretty(w.body))
				}
			}
			if tt.stdout != "" && !strings.Contains(out, tt.stdout) {
				t.Errorf("stdout %q does not contain %q", out, tt.stdout)
			}
			if strings.HasPrefix(tt.name, "provider register") && out != "" {
				t.Errorf("provider register printed %q", out)
			}
		})
	}
}

// TestNetworkRuleExpiresIn: add --expires-in sends expiresOn that far ahead;
// adding an expiring rule that is there extends its expiry only forward,
// and leaves one without expiry without; a bad duration says how to write it.
func TestNetworkRuleExpiresIn(t *testing.T) {
	exp, err := expiresIn("2h", "20.0.0.1")
	at, perr := time.Parse(time.RFC3339, exp)
	if err != nil || perr != nil || time.Until(at) < 2*time.Hour-time.Minute || time.Until(at) > 2*time.Hour {
		t.Fatalf("expiresIn(2h) = %q, %v", exp, err)
	}
	for _, bad := range []string{"1d", "-1h", "0s", "soon"} {
		if _, err := expiresIn(bad, "20.0.0.1"); err == nil || !strings.Contains(err.Error(), "30m, 2h or 72h") {
			t.Errorf("expiresIn(%q): %v", bad, err)
		}
	}
	if _, err := expiresIn("1h", ""); err == nil || !strings.Contains(err.Error(), "--ip-address") {
		t.Errorf("expiresIn without an IP: %v", err)
	}
	const early, late = "2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z"
	nrs := func() object {
		return object{"ipRules": []any{object{"action": "Allow", "value": "20.0.0.1", "expiresOn": early}, object{"action": "Allow", "value": "20.0.0.2"}}}
	}
	cases := []struct {
		ip, expires string
		changed     bool
		want        any // the rule's expiresOn after
	}{
		{"20.0.0.3", late, true, late},
		{"20.0.0.3", "", true, nil},
		{"20.0.0.1/32", late, true, late},
		{"20.0.0.1", "2029-01-01T00:00:00Z", false, early},
		{"20.0.0.1", "", false, early},
		{"20.0.0.2", late, false, nil},
	}
	for _, c := range cases {
		n := nrs()
		if got := addRules(n, c.ip, "", c.expires); got != c.changed || ipRuleOf(n, c.ip)["expiresOn"] != c.want {
			t.Errorf("add %s expiring %q: changed %v, rule %v; want %v, expiresOn %v", c.ip, c.expires, got, ipRuleOf(n, c.ip), c.changed, c.want)
		}
	}
}
