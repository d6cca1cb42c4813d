// Package rbac holds the built-in roles, the role assignments and the one
// access decision for principals: may principal P do action A at scope S?
package rbac

import "strings"

// Actions moat checks. Management actions follow ARM's
// <namespace>/<type>/<verb>; data actions are the registry's.
const (
	ActionPull   = "Microsoft.ContainerRegistry/registries/pull/read"
	ActionPush   = "Microsoft.ContainerRegistry/registries/push/write"
	ActionDelete = "Microsoft.ContainerRegistry/registries/artifacts/delete"
	// ActionJoinSubnet is needed on a subnet to name it in a registry's
	// virtual-network rule or to create a private endpoint in it.
	ActionJoinSubnet = "Microsoft.Network/virtualNetworks/subnets/join/action"
	// ActionApproveConnection lets a registry writer auto-approve a private endpoint.
	ActionApproveConnection = "Microsoft.ContainerRegistry/registries/privateEndpointConnectionsApproval/action"
)

// Role is a built-in role definition.
type Role struct {
	Name       string
	ID         string // GUID, as in the cloud
	Actions    []string
	NotActions []string
}

// Roles are the built-in roles (same names and GUIDs as the cloud's).
var Roles = []Role{
	{Name: "Owner", ID: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", Actions: []string{"*"}},
	{Name: "Contributor", ID: "b24988ac-6180-42a0-ab88-20f7382dd24c", Actions: []string{"*"},
		NotActions: []string{"Microsoft.Authorization/*/write", "Microsoft.Authorization/*/delete"}},
	{Name: "Reader", ID: "acdd72a7-3385-48ef-bd42-f606fba81ae7", Actions: []string{"*/read"}},
	{Name: "AcrPull", ID: "7f951dda-4ed3-4680-a7ca-43fe172d538d", Actions: []string{ActionPull}},
	{Name: "AcrPush", ID: "8311e382-0749-4cb8-b61a-304f252e45ec", Actions: []string{ActionPull, ActionPush}},
	{Name: "AcrDelete", ID: "c2f4ef07-c644-48eb-af81-4b1b4947fb11", Actions: []string{ActionDelete}},
	{Name: "Network Contributor", ID: "4d97b98b-1d4f-4787-a291-c67834d212e7", Actions: []string{"Microsoft.Network/*", "*/read"}},
}

// RoleByName finds a role by name or GUID (case-insensitive).
func RoleByName(s string) (Role, bool) {
	s = strings.TrimPrefix(strings.ToLower(s), "/providers/microsoft.authorization/roledefinitions/")
	for _, r := range Roles {
		if strings.EqualFold(r.Name, s) || r.ID == s {
			return r, true
		}
	}
	return Role{}, false
}

// Permits reports whether the role grants action.
func (r Role) Permits(action string) bool {
	return anyMatch(r.Actions, action) && !anyMatch(r.NotActions, action)
}

func anyMatch(patterns []string, action string) bool {
	for _, p := range patterns {
		if match(p, action) {
			return true
		}
	}
	return false
}

// match compares an action to a pattern with at most one "*" (ARM style),
// case-insensitively.
func match(pattern, action string) bool {
	p, a := strings.ToLower(pattern), strings.ToLower(action)
	before, after, wild := strings.Cut(p, "*")
	if !wild {
		return p == a
	}
	return len(a) >= len(before)+len(after) && strings.HasPrefix(a, before) && strings.HasSuffix(a, after)
}
