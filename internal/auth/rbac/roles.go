// Package rbac holds the built-in roles, the role assignments and the one
// access decision for principals: may principal P do action A at scope S?
package rbac

import "strings"

// Role is a built-in role definition.
type Role struct {
	Name           string
	ID             string // GUID, as in the cloud
	Actions        []string
	NotActions     []string
	DataActions    []string
	NotDataActions []string
}

// registryData are the data actions ACR's classic roles table gives Owner
// and Contributor (push, pull, delete).
var registryData = []string{ActionPull, ActionPush, ActionDelete}

// Roles are the built-in roles (same names, GUIDs and management actions as
// the cloud's; the registry's data actions as ACR's roles table grants them).
var Roles = []Role{
	{Name: "Owner", ID: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", Actions: []string{"*"}, DataActions: registryData},
	{Name: "Contributor", ID: "b24988ac-6180-42a0-ab88-20f7382dd24c", Actions: []string{"*"},
		NotActions:  []string{"Microsoft.Authorization/*/write", "Microsoft.Authorization/*/delete"},
		DataActions: registryData},
	{Name: "Reader", ID: "acdd72a7-3385-48ef-bd42-f606fba81ae7", Actions: []string{"*/read"}, DataActions: []string{ActionPull}},
	{Name: "AcrPull", ID: "7f951dda-4ed3-4680-a7ca-43fe172d538d", DataActions: []string{ActionPull}},
	{Name: "AcrPush", ID: "8311e382-0749-4cb8-b61a-304f252e45ec", DataActions: []string{ActionPull, ActionPush}},
	{Name: "AcrDelete", ID: "c2f4ef07-c644-48eb-af81-4b1b4947fb11", DataActions: []string{ActionDelete}},
	{Name: "Network Contributor", ID: "4d97b98b-1d4f-4787-a291-c67834d212e7", Actions: []string{
		"Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Network/*",
		"Microsoft.ResourceHealth/availabilityStatuses/read", "Microsoft.Resources/deployments/*",
		"Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*"}},
	{Name: "Managed Identity Operator", ID: "f1a07417-d97a-45cb-824c-7a7467783830", Actions: []string{
		"Microsoft.ManagedIdentity/userAssignedIdentities/*/read", "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
		"Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
		"Microsoft.Resources/deployments/*", "Microsoft.Support/*"}},
}

// RoleNames lists the built-in roles' names, for messages.
func RoleNames() string {
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = r.Name
	}
	return strings.Join(names, ", ")
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

// Permits reports whether the role grants action: a data action through its
// DataActions, any other through its Actions.
func (r Role) Permits(action string) bool {
	if IsDataAction(action) {
		return anyMatch(r.DataActions, action) && !anyMatch(r.NotDataActions, action)
	}
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
// case-insensitively. As in ARM, a "*" segment may also stand for no segment:
// ".../userAssignedIdentities/*/assign/action" grants ".../userAssignedIdentities/assign/action".
func match(pattern, action string) bool {
	p, a := strings.ToLower(pattern), strings.ToLower(action)
	if glob(p, a) {
		return true
	}
	return strings.Contains(p, "/*/") && glob(strings.Replace(p, "/*/", "/", 1), a)
}

func glob(p, a string) bool {
	before, after, wild := strings.Cut(p, "*")
	if !wild {
		return p == a
	}
	return len(a) >= len(before)+len(after) && strings.HasPrefix(a, before) && strings.HasSuffix(a, after)
}
