package mgmt

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Roles is the role assignment state the management API changes and reads.
type Roles interface {
	Permissions
	Reload(ctx context.Context) error
	All() []rbac.Assignment
}

const roleAssignmentsSegment = "/providers/microsoft.authorization/roleassignments"

// splitScopedPath splits {scope}/providers/Microsoft.Authorization/{segment}[/{name}]
// (segment: the lower-case "/providers/microsoft.authorization/<type>").
func splitScopedPath(path, segment string) (scope, name string, ok bool) {
	i := strings.Index(strings.ToLower(path), segment)
	if i < 0 {
		return "", "", false
	}
	rest := strings.Trim(path[i+len(segment):], "/")
	if strings.Contains(rest, "/") {
		return "", "", false
	}
	return strings.TrimRight(path[:i], "/"), rest, true
}

// roleAssignments serves {scope}/providers/Microsoft.Authorization/roleAssignments[/{name}]
// at any scope: the scope is authorized as named, before it is looked up.
func (h *Handler) roleAssignments(w http.ResponseWriter, r *http.Request, scope, name string) error {
	c := newCall(h, r, resid.ID{})
	c.scope, c.name = scope, name
	if err := h.require(c.ctx, scope, verbAction(r.Method, rbac.AssignmentType)); err != nil {
		return err
	}
	if err := h.checkScope(c.ctx, scope); err != nil {
		return err
	}
	return roleAssignmentKind.serveCall(c, w)
}

// roleAssignmentKind: a role assignment is created once (its role and
// principal never change) and deleted; DELETE answers it. A list shows
// every assignment the scope's read right covers, inherited ones included.
var roleAssignmentKind = &kind[rbac.Assignment]{
	typ: rbac.AssignmentType, what: "role assignment", notFoundCode: "RoleAssignmentNotFound",
	noPatch: true, removed: true, listAll: true,
	load: func(c *call) (rbac.Assignment, int64, bool, error) {
		return loadDoc[rbac.Assignment](c, c.scope+"/providers/Microsoft.Authorization/roleAssignments/"+c.name)
	},
	list:   listRoleAssignments,
	render: func(_ *call, a rbac.Assignment, _ int64) (any, error) { return a, nil },
	put:    putRoleAssignment,
	remove: func(c *call, a rbac.Assignment) error {
		if err := c.h.Meta.DeleteResource(c.ctx, a.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		return c.h.reloadRoles(c.ctx)
	},
}

func putRoleAssignment(c *call, cur *rbac.Assignment, _ int64, body []byte) (rbac.Assignment, int64, error) {
	var in rbac.Assignment
	if err := decodeBody(body, &in); err != nil {
		return in, 0, err
	}
	if cur != nil {
		return in, 0, armErr(http.StatusConflict, "RoleAssignmentExists", "the role assignment %s already exists; its role and principal cannot change: delete it and create another", cur.ID)
	}
	ctx, name, scope := c.ctx, c.name, c.scope
	if _, err := uuid.Parse(name); err != nil {
		return in, 0, badRequest("InvalidRoleAssignmentId", "role assignment name %q must be a GUID", name)
	}
	role, ok := rbac.RoleByName(in.Properties.RoleDefinitionID[strings.LastIndexByte(in.Properties.RoleDefinitionID, '/')+1:])
	if !ok {
		return in, 0, badRequest("RoleDefinitionDoesNotExist", "role definition %q does not exist; built-in roles: %s", in.Properties.RoleDefinitionID, rbac.RoleNames())
	}
	p, ok := c.h.Principals.Get(in.Properties.PrincipalID)
	if !ok {
		return in, 0, badRequest("PrincipalNotFound", "principal %q does not exist in the directory; create it first (moat ad user create / moat ad sp create-for-rbac)", in.Properties.PrincipalID)
	}
	if hidden, err := c.h.hiddenInstance(ctx, p); err != nil {
		return in, 0, err
	} else if hidden {
		return in, 0, badRequest("PrincipalNotFound", "principal %q is the run identity of task %s, which has no system-assigned identity and may be given no role; give the task one (--assign-identity) and assign roles to that", p.ID, p.Owner)
	}
	for _, a := range c.h.Roles.All() {
		if strings.EqualFold(a.Properties.PrincipalID, p.ID) && strings.EqualFold(strings.TrimRight(a.Properties.Scope, "/"), scope) {
			if ar, _ := a.Role(); ar.ID == role.ID {
				return in, 0, armErr(http.StatusConflict, "RoleAssignmentExists", "the role assignment already exists (%s)", a.ID)
			}
		}
	}
	id := scope + "/providers/Microsoft.Authorization/roleAssignments/" + name
	a := rbac.Assignment{ID: id, Name: name, Type: rbac.AssignmentType, Properties: rbac.AssignmentProperties{
		RoleDefinitionID: rbac.RoleDefinitionID(c.h.Subscription, role), RoleDefinitionName: role.Name,
		PrincipalID: p.ID, PrincipalType: p.Kind, Scope: scope}}
	v, err := c.h.save(ctx, id, rbac.AssignmentType, a, 0)
	if err != nil {
		return a, 0, err
	}
	return a, v, c.h.Roles.Reload(ctx)
}

// listRoleAssignments lists assignments at the scope and below it; with
// $filter=atScope() those at the scope and above it (what applies there);
// "principalId eq '<id>'" narrows to one principal.
func listRoleAssignments(c *call) ([]listed[rbac.Assignment], error) {
	filter := c.r.URL.Query().Get("$filter")
	atScope := strings.Contains(filter, "atScope()")
	principal := ""
	if _, after, ok := strings.Cut(filter, "principalId eq '"); ok {
		principal, _, _ = strings.Cut(after, "'")
	}
	var out []listed[rbac.Assignment]
	for _, a := range c.h.Roles.All() {
		in := rbac.Covers(c.scope, a.Properties.Scope)
		if atScope {
			in = rbac.Covers(a.Properties.Scope, c.scope)
		}
		if in && (principal == "" || strings.EqualFold(principal, a.Properties.PrincipalID)) {
			out = append(out, listed[rbac.Assignment]{id: a.ID, s: a})
		}
	}
	return out, nil
}

// checkScope accepts a scope of this subscription whose resource group exists.
func (h *Handler) checkScope(ctx context.Context, scope string) error {
	id, err := resid.Parse(scope)
	if err != nil {
		return badRequest("InvalidScope", "scope %q is not a resource ID: %v", scope, err)
	}
	if !strings.EqualFold(id.Subscription, h.Subscription) {
		return armErr(http.StatusNotFound, "SubscriptionNotFound", "subscription %q not found; this server's subscription is %s", id.Subscription, h.Subscription)
	}
	if id.ResourceGroup != "" {
		_, err := h.requireGroup(ctx, h.Subscription, id.ResourceGroup)
		return err
	}
	return nil
}
