package rbac

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/moat-registry/moat/internal/store/meta"
)

// AssignmentType is the resource type of role assignments.
const AssignmentType = "Microsoft.Authorization/roleAssignments"

// Assignment is a role assignment resource (ARM shape).
type Assignment struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	Type       string               `json:"type"`
	Properties AssignmentProperties `json:"properties"`
}

type AssignmentProperties struct {
	RoleDefinitionID   string `json:"roleDefinitionId"`
	RoleDefinitionName string `json:"roleDefinitionName,omitempty"`
	PrincipalID        string `json:"principalId"`
	PrincipalType      string `json:"principalType,omitempty"`
	Scope              string `json:"scope"`
}

// Role returns the assignment's role.
func (a Assignment) Role() (Role, bool) { return RoleByName(roleGUID(a.Properties.RoleDefinitionID)) }

func roleGUID(id string) string { return id[strings.LastIndexByte(id, '/')+1:] }

// RoleDefinitionID formats a role's definition ID at a subscription.
func RoleDefinitionID(sub string, r Role) string {
	return "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + r.ID
}

type snapshot struct {
	byPrincipal map[string][]Assignment
	all         []Assignment
}

// Authorizer decides access from an in-memory snapshot of the assignments.
type Authorizer struct {
	store  meta.Resources
	snap   atomic.Pointer[snapshot]
	reload sync.Mutex
}

// NewAuthorizer loads the assignments.
func NewAuthorizer(ctx context.Context, store meta.Resources) (*Authorizer, error) {
	a := &Authorizer{store: store}
	return a, a.Reload(ctx)
}

// Reload re-reads the assignments after a change.
func (a *Authorizer) Reload(ctx context.Context) error {
	a.reload.Lock()
	defer a.reload.Unlock()
	rs, err := a.store.ListResources(ctx, AssignmentType, "")
	if err != nil {
		return err
	}
	s := &snapshot{byPrincipal: map[string][]Assignment{}}
	for _, r := range rs {
		var as Assignment
		if err := json.Unmarshal(r.Body, &as); err != nil {
			continue // a corrupt assignment grants nothing
		}
		p := strings.ToLower(as.Properties.PrincipalID)
		s.byPrincipal[p] = append(s.byPrincipal[p], as)
		s.all = append(s.all, as)
	}
	a.snap.Store(s)
	return nil
}

// All returns every assignment (read-only).
func (a *Authorizer) All() []Assignment { return a.snap.Load().all }

// Allowed reports whether principal may perform action on the resource at
// scope: some assignment of the principal at scope or above it grants it.
func (a *Authorizer) Allowed(principal, scope, action string) bool {
	for _, as := range a.snap.Load().byPrincipal[strings.ToLower(principal)] {
		if !Covers(as.Properties.Scope, scope) {
			continue
		}
		if r, ok := as.Role(); ok && r.Permits(action) {
			return true
		}
	}
	return false
}

// Reaches reports whether some assignment of principal applies at scope or
// below it (the principal may see part of a list at scope).
func (a *Authorizer) Reaches(principal, scope string) bool {
	for _, as := range a.snap.Load().byPrincipal[strings.ToLower(principal)] {
		if Covers(as.Properties.Scope, scope) || Covers(scope, as.Properties.Scope) {
			return true
		}
	}
	return false
}

// Covers reports whether an assignment at scope applies to target: target is
// scope itself or below it (compared by whole path segments, case-insensitively).
func Covers(scope, target string) bool {
	s := strings.ToLower(strings.TrimRight(scope, "/"))
	t := strings.ToLower(strings.TrimRight(target, "/"))
	if s == "" || s == "/" {
		return true
	}
	return t == s || strings.HasPrefix(t, s+"/")
}
