package rbac

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

const (
	sub = "/subscriptions/11111111-1111-1111-1111-111111111111"
	rg  = sub + "/resourceGroups/default"
	reg = rg + "/providers/Microsoft.ContainerRegistry/registries/reg1"
)

func TestRolesPermit(t *testing.T) {
	cases := []struct {
		role, action string
		want         bool
	}{
		{"Owner", "Microsoft.Authorization/roleAssignments/write", true},
		{"Contributor", "Microsoft.ContainerRegistry/registries/write", true},
		{"Contributor", "Microsoft.Authorization/roleAssignments/write", false},
		{"Contributor", ActionPush, true},
		{"Contributor", "Microsoft.ContainerRegistry/registries/garbageCollect/action", true},
		{"Reader", "Microsoft.ContainerRegistry/registries/garbageCollect/action", false},
		{"AcrPush", "Microsoft.ContainerRegistry/registries/garbageCollect/action", false},
		{"Reader", "Microsoft.ContainerRegistry/registries/read", true},
		{"Reader", ActionPull, true},
		{"Reader", ActionPush, false},
		{"AcrPull", ActionPull, true},
		{"AcrPull", ActionPush, false},
		{"AcrPull", "Microsoft.ContainerRegistry/registries/read", false},
		{"AcrPush", ActionPush, true},
		{"AcrPush", ActionDelete, false},
		{"AcrDelete", ActionDelete, true},
		{"AcrDelete", ActionPull, false},
		{"Network Contributor", ActionJoinSubnet, true},
		{"Network Contributor", "Microsoft.ContainerRegistry/registries/write", false},
	}
	for _, c := range cases {
		r, ok := RoleByName(c.role)
		if !ok {
			t.Fatalf("no role %s", c.role)
		}
		if got := r.Permits(c.action); got != c.want {
			t.Errorf("%s permits %s = %v, want %v", c.role, c.action, got, c.want)
		}
	}
	if r, ok := RoleByName("acrpush"); !ok || r.Name != "AcrPush" {
		t.Fatal("role names are case-insensitive")
	}
	if _, ok := RoleByName("/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"); ok {
		t.Log("definition IDs with a subscription prefix resolve via roleGUID")
	}
}

func TestCovers(t *testing.T) {
	if !Covers(sub, reg) || !Covers(rg, reg) || !Covers(reg, reg) || !Covers(reg, reg+"/privateEndpointConnections/x") {
		t.Fatal("inheritance downwards broken")
	}
	if Covers(reg, rg) || Covers(reg+"2", reg) || Covers(rg+"x", reg) || Covers(reg, reg+"2") {
		t.Fatal("scope leaked to a sibling or parent")
	}
	if !Covers(rg, "/SUBSCRIPTIONS/11111111-1111-1111-1111-111111111111/resourcegroups/DEFAULT/x") {
		t.Fatal("scopes compare case-insensitively")
	}
}

func TestAllowed(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	assign := func(id, principal, role, scope string) {
		r, _ := RoleByName(role)
		a := Assignment{ID: scope + "/providers/Microsoft.Authorization/roleAssignments/" + id, Name: id, Type: AssignmentType,
			Properties: AssignmentProperties{RoleDefinitionID: RoleDefinitionID("x", r), PrincipalID: principal, Scope: scope}}
		body, _ := json.Marshal(a)
		if err := s.PutResource(ctx, &meta.Resource{ID: a.ID, Type: AssignmentType, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	assign("a1", "alice", "AcrPull", reg)
	assign("a2", "bob", "Contributor", rg)
	az, err := NewAuthorizer(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if !az.Allowed("alice", reg, ActionPull) || az.Allowed("alice", reg, ActionPush) || az.Allowed("alice", rg+"/providers/Microsoft.ContainerRegistry/registries/reg2", ActionPull) {
		t.Fatal("alice: AcrPull on reg1 only")
	}
	if !az.Allowed("BOB", reg, ActionPush) || !az.Allowed("bob", reg, "Microsoft.ContainerRegistry/registries/write") {
		t.Fatal("bob: Contributor inherited from the resource group")
	}
	if az.Allowed("carol", reg, ActionPull) {
		t.Fatal("no assignment, no access")
	}
}
