package rbac

import "strings"

// Data actions: what a principal may do with a registry's content. As in
// Azure, only a role's DataActions grant them; no Actions pattern ("*",
// "*/read") ever matches one.
const (
	ActionPull   = "Microsoft.ContainerRegistry/registries/pull/read"
	ActionPush   = "Microsoft.ContainerRegistry/registries/push/write"
	ActionDelete = "Microsoft.ContainerRegistry/registries/artifacts/delete"
)

// Management actions named by linked access checks (ARM's
// <namespace>/<type>/<verb>).
const (
	// ActionJoinSubnet is needed on a subnet to name it in a registry's
	// virtual-network rule or to create a private endpoint in it.
	ActionJoinSubnet = "Microsoft.Network/virtualNetworks/subnets/join/action"
	// ActionJoinIPGroup is needed on an IP group to name it in a registry's
	// IP rule.
	ActionJoinIPGroup = "Microsoft.Network/ipGroups/join/action"
	// ActionApproveConnection lets a registry writer auto-approve a private endpoint.
	ActionApproveConnection = "Microsoft.ContainerRegistry/registries/privateEndpointConnectionsApproval/action"
	// ActionAssignIdentity is needed on a user-assigned identity to attach it
	// to a registry, task or workspace.
	ActionAssignIdentity = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"
	// ActionWriteAssignment is needed at a scope to create a role assignment there.
	ActionWriteAssignment = "Microsoft.Authorization/roleAssignments/write"
)

// Checked lists every action moat checks, management and data: the role
// table test decides each for every built-in role, and the management API's
// route test keeps its actions inside this list.
var Checked = []string{
	ActionPull, ActionPush, ActionDelete,
	ActionJoinSubnet, ActionJoinIPGroup, ActionApproveConnection, ActionAssignIdentity, ActionWriteAssignment,
	"Microsoft.Authorization/roleAssignments/read", "Microsoft.Authorization/roleAssignments/delete",
	"Microsoft.Authorization/directory/write",
	"Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Resources/subscriptions/resourceGroups/write", "Microsoft.Resources/subscriptions/resourceGroups/delete",
	"Microsoft.ContainerRegistry/register/action", "Microsoft.Network/register/action",
	"Microsoft.ManagedIdentity/register/action", "Microsoft.MachineLearningServices/register/action",
	"Microsoft.ContainerRegistry/registries/read", "Microsoft.ContainerRegistry/registries/write", "Microsoft.ContainerRegistry/registries/delete",
	"Microsoft.ContainerRegistry/registries/listCredentials/action", "Microsoft.ContainerRegistry/registries/regenerateCredential/action",
	"Microsoft.ContainerRegistry/registries/garbageCollect/action", "Microsoft.ContainerRegistry/registries/privateLinkResources/read",
	"Microsoft.ContainerRegistry/registries/privateEndpointConnections/read", "Microsoft.ContainerRegistry/registries/privateEndpointConnections/write",
	"Microsoft.ContainerRegistry/registries/privateEndpointConnections/delete",
	"Microsoft.ContainerRegistry/registries/tasks/read", "Microsoft.ContainerRegistry/registries/tasks/write", "Microsoft.ContainerRegistry/registries/tasks/delete",
	"Microsoft.ContainerRegistry/registries/scopeMaps/read", "Microsoft.ContainerRegistry/registries/scopeMaps/write", "Microsoft.ContainerRegistry/registries/scopeMaps/delete",
	"Microsoft.ContainerRegistry/registries/tokens/read", "Microsoft.ContainerRegistry/registries/tokens/write", "Microsoft.ContainerRegistry/registries/tokens/delete",
	"Microsoft.ContainerRegistry/registries/generateCredentials/action",
	"Microsoft.Network/virtualNetworks/read", "Microsoft.Network/virtualNetworks/write", "Microsoft.Network/virtualNetworks/delete",
	"Microsoft.Network/virtualNetworks/subnets/read", "Microsoft.Network/virtualNetworks/subnets/write", "Microsoft.Network/virtualNetworks/subnets/delete",
	"Microsoft.Network/privateEndpoints/read", "Microsoft.Network/privateEndpoints/write", "Microsoft.Network/privateEndpoints/delete",
	"Microsoft.ManagedIdentity/userAssignedIdentities/read", "Microsoft.ManagedIdentity/userAssignedIdentities/write",
	"Microsoft.ManagedIdentity/userAssignedIdentities/delete",
	"Microsoft.MachineLearningServices/workspaces/read", "Microsoft.MachineLearningServices/workspaces/write",
	"Microsoft.MachineLearningServices/workspaces/delete",
}

// dataActions are the data actions moat checks.
var dataActions = []string{ActionPull, ActionPush, ActionDelete}

// IsDataAction reports whether action is a data action.
func IsDataAction(action string) bool {
	for _, d := range dataActions {
		if strings.EqualFold(d, action) {
			return true
		}
	}
	return false
}
