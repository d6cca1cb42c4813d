package mgmt

import (
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/auth/rbac"
)

// Role definitions: the built-in roles, read-only, at any scope
// ({scope}/providers/Microsoft.Authorization/roleDefinitions[/{id}], with
// $filter=roleName eq '...'), as az role assignment create --role <name>
// looks a role up.

const (
	roleDefinitionsSegment = "/providers/microsoft.authorization/roledefinitions"
	typeRoleDefinition     = "Microsoft.Authorization/roleDefinitions"
)

type roleDefinition struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		RoleName         string       `json:"roleName"`
		Type             string       `json:"type"`
		Description      string       `json:"description"`
		Permissions      []permission `json:"permissions"`
		AssignableScopes []string     `json:"assignableScopes"`
	} `json:"properties"`
}

type permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

func (h *Handler) roleDefinitions(w http.ResponseWriter, r *http.Request, scope, id string) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "role definitions (built-in, read-only)")
	}
	if err := h.require(r.Context(), scope, typeRoleDefinition+"/read"); err != nil {
		return err
	}
	if err := h.checkScope(r.Context(), scope); err != nil {
		return err
	}
	name := ""
	if _, after, ok := strings.Cut(r.URL.Query().Get("$filter"), "roleName eq '"); ok {
		name, _, _ = strings.Cut(after, "'")
	}
	out := []roleDefinition{}
	for _, role := range rbac.Roles {
		if (id == "" || strings.EqualFold(id, role.ID)) && (name == "" || strings.EqualFold(name, role.Name)) {
			out = append(out, h.roleDefinition(role))
		}
	}
	if id == "" {
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	}
	if len(out) == 0 {
		return armErr(http.StatusNotFound, "RoleDefinitionDoesNotExist", "the role definition %q does not exist; built-in roles: %s", id, rbac.RoleNames())
	}
	writeJSON(w, http.StatusOK, out[0])
	return nil
}

func (h *Handler) roleDefinition(role rbac.Role) roleDefinition {
	d := roleDefinition{ID: rbac.RoleDefinitionID(h.Subscription, role), Name: role.ID, Type: typeRoleDefinition}
	d.Properties.RoleName, d.Properties.Type, d.Properties.Description = role.Name, "BuiltInRole", "built-in role "+role.Name
	d.Properties.Permissions = []permission{{Actions: nonNil(role.Actions), NotActions: nonNil(role.NotActions),
		DataActions: nonNil(role.DataActions), NotDataActions: nonNil(role.NotDataActions)}}
	d.Properties.AssignableScopes = []string{"/"}
	return d
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
