package rbac

import (
	"slices"
	"strings"
	"testing"
)

// TestBuiltInRoleTable decides every action moat checks for every built-in
// role. Data actions (pull, push, delete) come only from roles that name
// them: "*" and "*/read" never match one (Network Contributor cannot pull).
func TestBuiltInRoleTable(t *testing.T) {
	const (
		all     = "Owner Contributor"
		readers = "Owner Contributor Reader"
		net     = "Owner Contributor Network Contributor"
		netRead = "Owner Contributor Reader Network Contributor"
		authz   = "Owner Contributor Reader Network Contributor Managed Identity Operator"
	)
	grants := map[string]string{ // action -> the roles that grant it
		ActionPull:   "Owner Contributor Reader AcrPull AcrPush",
		ActionPush:   "Owner Contributor AcrPush",
		ActionDelete: "Owner Contributor AcrDelete",

		ActionJoinSubnet:        net,
		ActionJoinIPGroup:       net,
		ActionApproveConnection: all,
		ActionAssignIdentity:    "Owner Contributor Managed Identity Operator",
		ActionWriteAssignment:   "Owner",

		"Microsoft.Authorization/roleAssignments/read":   authz,
		"Microsoft.Authorization/roleAssignments/delete": "Owner",
		"Microsoft.Authorization/directory/write":        "Owner",

		"Microsoft.Resources/subscriptions/resourceGroups/read":   authz,
		"Microsoft.Resources/subscriptions/resourceGroups/write":  all,
		"Microsoft.Resources/subscriptions/resourceGroups/delete": all,

		"Microsoft.ContainerRegistry/register/action":       all,
		"Microsoft.Network/register/action":                 net,
		"Microsoft.ManagedIdentity/register/action":         all,
		"Microsoft.MachineLearningServices/register/action": all,

		"Microsoft.ContainerRegistry/registries/read":                              readers,
		"Microsoft.ContainerRegistry/registries/write":                             all,
		"Microsoft.ContainerRegistry/registries/delete":                            all,
		"Microsoft.ContainerRegistry/registries/listCredentials/action":            all,
		"Microsoft.ContainerRegistry/registries/regenerateCredential/action":       all,
		"Microsoft.ContainerRegistry/registries/garbageCollect/action":             all,
		"Microsoft.ContainerRegistry/registries/privateLinkResources/read":         readers,
		"Microsoft.ContainerRegistry/registries/privateEndpointConnections/read":   readers,
		"Microsoft.ContainerRegistry/registries/privateEndpointConnections/write":  all,
		"Microsoft.ContainerRegistry/registries/privateEndpointConnections/delete": all,
		"Microsoft.ContainerRegistry/registries/tasks/read":                        readers,
		"Microsoft.ContainerRegistry/registries/tasks/write":                       all,
		"Microsoft.ContainerRegistry/registries/tasks/delete":                      all,
		"Microsoft.ContainerRegistry/registries/scopeMaps/read":                    readers,
		"Microsoft.ContainerRegistry/registries/scopeMaps/write":                   all,
		"Microsoft.ContainerRegistry/registries/scopeMaps/delete":                  all,
		"Microsoft.ContainerRegistry/registries/tokens/read":                       readers,
		"Microsoft.ContainerRegistry/registries/tokens/write":                      all,
		"Microsoft.ContainerRegistry/registries/tokens/delete":                     all,
		"Microsoft.ContainerRegistry/registries/generateCredentials/action":        all,

		"Microsoft.Network/virtualNetworks/read":           netRead,
		"Microsoft.Network/virtualNetworks/write":          net,
		"Microsoft.Network/virtualNetworks/delete":         net,
		"Microsoft.Network/virtualNetworks/subnets/read":   netRead,
		"Microsoft.Network/virtualNetworks/subnets/write":  net,
		"Microsoft.Network/virtualNetworks/subnets/delete": net,
		"Microsoft.Network/privateEndpoints/read":          netRead,
		"Microsoft.Network/privateEndpoints/write":         net,
		"Microsoft.Network/privateEndpoints/delete":        net,

		"Microsoft.ManagedIdentity/userAssignedIdentities/read":   "Owner Contributor Reader Managed Identity Operator",
		"Microsoft.ManagedIdentity/userAssignedIdentities/write":  all,
		"Microsoft.ManagedIdentity/userAssignedIdentities/delete": all,

		"Microsoft.MachineLearningServices/workspaces/read":   readers,
		"Microsoft.MachineLearningServices/workspaces/write":  all,
		"Microsoft.MachineLearningServices/workspaces/delete": all,
	}
	for _, a := range Checked {
		if _, ok := grants[a]; !ok {
			t.Errorf("action %s is checked by moat but missing from this table", a)
		}
	}
	for a := range grants {
		if !slices.Contains(Checked, a) {
			t.Errorf("action %s is in this table but not in rbac.Checked", a)
		}
	}
	names := []string{"Owner", "Contributor", "Reader", "AcrPull", "AcrPush", "AcrDelete", "Network Contributor", "Managed Identity Operator"}
	if len(Roles) != len(names) {
		t.Errorf("%d built-in roles, the table covers %d", len(Roles), len(names))
	}
	for _, name := range names {
		r, ok := RoleByName(name)
		if !ok {
			t.Errorf("no built-in role %s", name)
			continue
		}
		for a, who := range grants {
			want := slices.Contains(splitRoles(who), name)
			if got := r.Permits(a); got != want {
				t.Errorf("%s permits %s = %v, want %v", name, a, got, want)
			}
		}
	}
}

// splitRoles splits a space-separated list of role names (two-word names included).
func splitRoles(s string) []string {
	var out []string
	for _, n := range []string{"Network Contributor", "Managed Identity Operator"} {
		if strings.Contains(s, n) {
			out = append(out, n)
			s = strings.ReplaceAll(s, n, "")
		}
	}
	return append(out, strings.Fields(s)...)
}

// TestRoleGUIDs: the built-in roles keep the cloud's GUIDs (templates and
// scripts written for Azure name roles by them).
func TestRoleGUIDs(t *testing.T) {
	for name, id := range map[string]string{
		"Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
		"Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7", "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
		"AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec", "AcrDelete": "c2f4ef07-c644-48eb-af81-4b1b4947fb11",
		"Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7", "Managed Identity Operator": "f1a07417-d97a-45cb-824c-7a7467783830",
	} {
		if r, ok := RoleByName(id); !ok || r.Name != name {
			t.Errorf("role %s: GUID %s resolves to %+v", name, id, r)
		}
	}
}

// TestWildcardSegment: as in ARM, "a/*/b" also matches "a/b" (Managed
// Identity Operator's ".../userAssignedIdentities/*/assign/action").
func TestWildcardSegment(t *testing.T) {
	cases := []struct {
		pattern, action string
		want            bool
	}{
		{"a/*/b", "a/b", true},
		{"a/*/b", "a/x/b", true},
		{"a/*/b", "a/x/y/b", true},
		{"a/*/b", "ab", false},
		{"a/*/b", "a/bc", false},
		{"*/read", "x/read", true},
		{"*/read", "x/reader", false},
		{"*", "anything", true},
	}
	for _, c := range cases {
		if got := match(c.pattern, c.action); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pattern, c.action, got, c.want)
		}
	}
}
