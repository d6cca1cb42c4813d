package mgmt

import "github.com/moat-registry/moat/internal/apiversion"

// The members of a registry that vary by api-version, from the definitions
// of each version in Azure/azure-rest-api-specs
// (specification/containerregistry/resource-manager/Microsoft.ContainerRegistry;
// bicep-types-az's generated types list them per version).
var (
	// networkRuleSet came with 2017-10-01.
	ruleSetVersions = since(apiversion.ACR, "2017-10-01")
	// virtualNetworkRules: 2017-10-01 to 2021-12-01-preview except the
	// stable 2021-09-01 (each rule {action, id}), then no version until
	// 2026-03-01-preview (each rule {action, virtualNetworkSubnetResourceId}).
	vnetRuleVersions = []string{"2017-10-01", "2019-05-01", "2019-12-01-preview", "2020-11-01-preview",
		"2021-06-01-preview", "2021-08-01-preview", "2021-12-01-preview", "2026-03-01-preview"}
	// policies (retentionPolicy among them) came with 2019-05-01.
	policyVersions = except(since(apiversion.ACR, "2019-05-01"), "2019-05-01-preview")
	// identity, systemData, privateEndpointConnections, publicNetworkAccess,
	// networkRuleBypassOptions and dataEndpointEnabled came with 2019-12-01-preview.
	networkVersions2019 = since(apiversion.ACR, "2019-12-01-preview")
	// anonymousPullEnabled: the previews since 2020-11-01-preview, and the
	// stable versions since 2025-04-01 (not 2021-09-01, 2022-12-01, 2023-07-01).
	anonymousPullVersions = except(since(apiversion.ACR, "2020-11-01-preview"), "2021-09-01", "2022-12-01", "2023-07-01")
	// networkRuleBypassAllowedForTasks came with 2025-05-01-preview.
	taskBypassVersions = since(apiversion.ACR, "2025-05-01-preview")
)

var registryShape = shape{published: apiversion.ACR, members: []member{
	{path: []string{"properties", "networkRuleSet"}, in: ruleSetVersions},
	{path: []string{"properties", "networkRuleSet", "virtualNetworkRules"}, in: vnetRuleVersions},
	{path: []string{"properties", "networkRuleSet", "virtualNetworkRules", "[]", "id"},
		names: map[string]string{"2026-03-01-preview": "virtualNetworkSubnetResourceId"}},
	{path: []string{"properties", "policies"}, in: policyVersions},
	{path: []string{"identity"}, in: networkVersions2019},
	{path: []string{"systemData"}, in: networkVersions2019},
	{path: []string{"properties", "privateEndpointConnections"}, in: networkVersions2019},
	{path: []string{"properties", "publicNetworkAccess"}, in: networkVersions2019},
	{path: []string{"properties", "networkRuleBypassOptions"}, in: networkVersions2019},
	{path: []string{"properties", "dataEndpointEnabled"}, in: networkVersions2019},
	{path: []string{"properties", "anonymousPullEnabled"}, in: anonymousPullVersions},
	{path: []string{"properties", "networkRuleBypassAllowedForTasks"}, in: taskBypassVersions},
}}

// The members of a task that vary by api-version (containerregistry_build.json):
// identity came with 2019-04-01.
var taskShape = shape{published: apiversion.ACRTasks, members: []member{
	{path: []string{"identity"}, in: since(apiversion.ACRTasks, "2019-04-01")},
}}
