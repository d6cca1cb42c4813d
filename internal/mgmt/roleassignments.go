package mgmt

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/rbac"
	"github.com/moat-registry/moat/internal/resid"
)

// Roles is the role assignment state the management API changes and reads.
type Roles interface {
	Permissions
	Reload(ctx context.Context) error
	All() []rbac.Assignment
}

const roleAssignmentsSegment = "/providers/microsoft.authorization/roleassignments"

// splitRoleAssignmentPath splits {scope}/providers/Microsoft.Authorization/roleAssignments[/{name}].
func splitRoleAssignmentPath(path string) (scope, name string, ok bool) {
	i := strings.Index(strings.ToLower(path), roleAssignmentsSegment)
	if i < 0 {
		return "", "", false
	}
	rest := strings.Trim(path[i+len(roleAssignmentsSegment):], "/")
	if strings.Contains(rest, "/") {
		return "", "", false
	}
	return strings.TrimRight(path[:i], "/"), rest, true
}

// roleAssignments serves PUT/GET/DELETE of {scope}/providers/Microsoft.Authorization/roleAssignments/{name}
// and the list at a scope.
func (h *Handler) roleAssignments(w http.ResponseWriter, r *http.Request, scope, name string) error {
	ctx := r.Context()
	// The scope is authorised as named, before it is looked up.
	if err := h.require(ctx, scope, verbAction(r.Method, rbac.AssignmentType)); err != nil {
		return err
	}
	if err := h.checkScope(ctx, scope); err != nil {
		return err
	}
	if name == "" {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r, "the role assignment collection")
		}
		return h.listRoleAssignments(w, r, scope)
	}
	id := scope + "/providers/Microsoft.Authorization/roleAssignments/" + name
	switch r.Method {
	case http.MethodGet:
		var a rbac.Assignment
		v, ok, err := h.load(ctx, id, &a)
		if err != nil {
			return err
		}
		if !ok {
			return armErr(http.StatusNotFound, "RoleAssignmentNotFound", "role assignment %s not found", name)
		}
		return writeResource(w, http.StatusOK, a, v)
	case http.MethodPut:
		return h.putRoleAssignment(w, r, scope, name, id)
	case http.MethodDelete:
		var a rbac.Assignment
		_, ok, err := h.load(ctx, id, &a)
		if err != nil {
			return err
		}
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if err := h.Meta.DeleteResource(ctx, id); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		if err := h.Roles.Reload(ctx); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	}
	return methodNotAllowed(r, "a role assignment")
}

func (h *Handler) putRoleAssignment(w http.ResponseWriter, r *http.Request, scope, name, id string) error {
	ctx := r.Context()
	if _, err := uuid.Parse(name); err != nil {
		return badRequest("InvalidRoleAssignmentId", "role assignment name %q must be a GUID", name)
	}
	var in rbac.Assignment
	if err := decode(r, &in); err != nil {
		return err
	}
	role, ok := rbac.RoleByName(in.Properties.RoleDefinitionID[strings.LastIndexByte(in.Properties.RoleDefinitionID, '/')+1:])
	if !ok {
		return badRequest("RoleDefinitionDoesNotExist", "role definition %q does not exist; built-in roles: %s", in.Properties.RoleDefinitionID, rbac.RoleNames())
	}
	p, ok := h.Principals.Get(in.Properties.PrincipalID)
	if !ok {
		return badRequest("PrincipalNotFound", "principal %q does not exist in the directory; create it first (moat ad user create / moat ad sp create-for-rbac)", in.Properties.PrincipalID)
	}
	if hidden, err := h.hiddenInstance(ctx, p); err != nil {
		return err
	} else if hidden {
		return badRequest("PrincipalNotFound", "principal %q is the run identity of task %s, which has no system-assigned identity and may be given no role; give the task one (--assign-identity) and assign roles to that", p.ID, p.Owner)
	}
	for _, a := range h.Roles.All() {
		if strings.EqualFold(a.Properties.PrincipalID, p.ID) && strings.EqualFold(strings.TrimRight(a.Properties.Scope, "/"), scope) {
			if ar, _ := a.Role(); ar.ID == role.ID {
				return armErr(http.StatusConflict, "RoleAssignmentExists", "the role assignment already exists (%s)", a.ID)
			}
		}
	}
	a := rbac.Assignment{ID: id, Name: name, Type: rbac.AssignmentType, Properties: rbac.AssignmentProperties{
		RoleDefinitionID: rbac.RoleDefinitionID(h.Subscription, role), RoleDefinitionName: role.Name,
		PrincipalID: p.ID, PrincipalType: p.Kind, Scope: scope}}
	v, err := h.save(ctx, id, rbac.AssignmentType, a, 0)
	if err != nil {
		return err
	}
	if err := h.Roles.Reload(ctx); err != nil {
		return err
	}
	return writeResource(w, http.StatusCreated, a, v)
}

// listRoleAssignments lists assignments at the scope and below it; with
// $filter=atScope() those at the scope and above it (what applies there);
// "principalId eq '<id>'" narrows to one principal.
func (h *Handler) listRoleAssignments(w http.ResponseWriter, r *http.Request, scope string) error {
	filter := r.URL.Query().Get("$filter")
	atScope := strings.Contains(filter, "atScope()")
	principal := ""
	if _, after, ok := strings.Cut(filter, "principalId eq '"); ok {
		principal, _, _ = strings.Cut(after, "'")
	}
	out := []rbac.Assignment{}
	for _, a := range h.Roles.All() {
		in := rbac.Covers(scope, a.Properties.Scope)
		if atScope {
			in = rbac.Covers(a.Properties.Scope, scope)
		}
		if in && (principal == "" || strings.EqualFold(principal, a.Properties.PrincipalID)) {
			out = append(out, a)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
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
