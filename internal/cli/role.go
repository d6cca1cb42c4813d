package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/spf13/cobra"
)

// `moat role`: the built-in roles and role assignments, as `az role`.
// Assignments live at {scope}/providers/Microsoft.Authorization/roleAssignments/{GUID}.

const roleAssignmentsPath = "/providers/Microsoft.Authorization/roleAssignments"

func newRole() *cobra.Command {
	return parent("role", "Manage roles and role assignments",
		parent("assignment", "Manage role assignments",
			roleAssignmentCreate(), roleAssignmentList(), roleAssignmentDelete()),
		parent("definition", "Show the built-in roles", roleDefinitionList()))
}

// roleByName finds a built-in role by name, GUID or role definition ID.
func roleByName(s string) (rbac.Role, error) {
	key := s
	if i := strings.LastIndex(strings.ToLower(s), "/roledefinitions/"); i >= 0 {
		key = s[i+len("/roledefinitions/"):]
	}
	if r, ok := rbac.RoleByName(key); ok {
		return r, nil
	}
	return rbac.Role{}, fmt.Errorf("role '%s' doesn't exist; the built-in roles are %s", s, rbac.RoleNames())
}

// checkScope accepts a scope of the form /subscriptions/{id}[/...].
func checkScope(s string) error {
	if !strings.HasPrefix(strings.ToLower(s), "/subscriptions/") || len(strings.Split(strings.Trim(s, "/"), "/")) < 2 {
		return fmt.Errorf("scope %q is not a resource ID: use /subscriptions/{id}, /subscriptions/{id}/resourceGroups/{group} or a resource's ID (moat acr show --query id)", s)
	}
	return nil
}

// assignRole creates an assignment of role to the principal (object ID) at scope.
func (x *exec) assignRole(scope string, role rbac.Role, principalID, principalType string) (object, error) {
	sub, err := x.c.subscription()
	if err != nil {
		return nil, err
	}
	props := object{
		"roleDefinitionId": rbac.RoleDefinitionID(sub, role),
		"principalId":      principalID,
	}
	if principalType != "" {
		props["principalType"] = principalType
	}
	path := strings.TrimRight(scope, "/") + roleAssignmentsPath + "/" + uuid.NewString()
	return x.c.write(http.MethodPut, path, "", object{"properties": props})
}

// principal is a resolved assignee.
type principal struct {
	id, typ, name string
}

// resolveAssignee finds a user (by user principal name or object ID) or a
// service principal (by appId or object ID) in the directory, as az does.
func (x *exec) resolveAssignee(assignee string) (principal, error) {
	var u object
	err := x.c.do(http.MethodGet, graphUsers+"/"+seg(assignee), nil, &u)
	if err == nil {
		return principal{id: str(u, "id"), typ: "User", name: str(u, "userPrincipalName")}, nil
	}
	if !isStatus(err, http.StatusNotFound) {
		return principal{}, err
	}
	var sp object
	err = x.c.do(http.MethodGet, graphSPs+"/"+seg(assignee), nil, &sp)
	if err == nil {
		return principal{id: str(sp, "id"), typ: "ServicePrincipal", name: str(sp, "appId")}, nil
	}
	if !isStatus(err, http.StatusNotFound) {
		return principal{}, err
	}
	return principal{}, fmt.Errorf("cannot find user or service principal in the directory for '%s'; `moat ad user list` and `moat ad sp list` show them (or give --assignee-object-id)", assignee)
}

// assigneeFlags adds --assignee and --assignee-object-id.
func assigneeFlags(cmd *cobra.Command) {
	cmd.Flags().String("assignee", "", "user principal name, service principal appId, or object ID")
	cmd.Flags().String("assignee-object-id", "", "object ID of the assignee, used as is (e.g. a managed identity)")
}

// assigneeID returns the object ID the flags name ("" when neither is given).
func (x *exec) assigneeID() (principal, error) {
	if id := x.str("assignee-object-id"); id != "" {
		if x.str("assignee") != "" {
			return principal{}, fmt.Errorf("usage error: --assignee | --assignee-object-id")
		}
		return principal{id: id, typ: x.str("assignee-principal-type")}, nil
	}
	if a := x.str("assignee"); a != "" {
		return x.resolveAssignee(a)
	}
	return principal{}, nil
}

func scopeFlags(cmd *cobra.Command) {
	cmd.Flags().String("scope", "", "scope: /subscriptions/{id}[/resourceGroups/{group}[/providers/.../{name}]]")
	cmd.Flags().StringP("resource-group", "g", "", "a resource group, as the scope (when --scope is not given)")
}

// roleScope is --scope, else the resource group of -g, else the subscription (az's _build_role_scope).
func (x *exec) roleScope() (string, error) {
	if s := x.str("scope"); s != "" {
		if x.str("resource-group") != "" {
			return "", fmt.Errorf("usage error: --resource-group | --scope")
		}
		return strings.TrimRight(s, "/"), checkScope(s)
	}
	if g := x.str("resource-group"); g != "" {
		return x.c.groupPath(g)
	}
	return x.c.subPath()
}

func roleAssignmentCreate() *cobra.Command {
	return leaf(spec{
		use: "create", short: "Assign a role to a user or service principal at a scope",
		example: "  moat role assignment create --assignee alice@example.com --role AcrPush \\\n" +
			"      --scope $(moat acr show --name myregistry --query id --output tsv)",
		required: []string{"role"},
		flags: func(cmd *cobra.Command) {
			assigneeFlags(cmd)
			cmd.Flags().String("assignee-principal-type", "", "with --assignee-object-id: User, ServicePrincipal or ManagedIdentity")
			cmd.Flags().String("role", "", "role name or ID, e.g. AcrPull, AcrPush, AcrDelete, Reader, Contributor, Owner")
			scopeFlags(cmd)
			cmd.Flags().String("description", "", "accepted for az compatibility; not stored")
		},
		run: func(x *exec) (any, error) {
			if x.str("assignee") == "" && x.str("assignee-object-id") == "" {
				return nil, fmt.Errorf("the following arguments are required: --assignee (or --assignee-object-id)")
			}
			if x.str("scope") == "" && x.str("resource-group") == "" {
				return nil, fmt.Errorf("the following arguments are required: --scope")
			}
			role, err := roleByName(x.str("role"))
			if err != nil {
				return nil, err
			}
			scope, err := x.roleScope()
			if err != nil {
				return nil, err
			}
			p, err := x.assigneeID()
			if err != nil {
				return nil, err
			}
			out, err := x.assignRole(scope, role, p.id, p.typ)
			if err != nil {
				return nil, err
			}
			return assignmentView(out, map[string]string{strings.ToLower(p.id): p.name}), nil
		},
	})
}

// assignmentView is an assignment as az prints it: flattened, with
// principalName and roleDefinitionName.
func assignmentView(a object, names map[string]string) object {
	v := azView(a).(map[string]any)
	if str(v, "roleDefinitionName") == "" {
		if r, err := roleByName(str(v, "roleDefinitionId")); err == nil {
			v["roleDefinitionName"] = r.Name
		}
	}
	if n := names[strings.ToLower(str(v, "principalId"))]; n != "" {
		v["principalName"] = n
	} else if _, ok := v["principalName"]; !ok {
		v["principalName"] = ""
	}
	return v
}

// principalNames maps the object IDs of the directory's users and service
// principals to their names (UPN, appId); empty when they cannot be listed.
func (x *exec) principalNames() map[string]string {
	names := map[string]string{}
	for _, c := range []struct{ path, field string }{{graphUsers, "userPrincipalName"}, {graphSPs, "appId"}} {
		items, err := x.c.list(c.path)
		if err != nil {
			continue
		}
		for _, it := range items {
			names[strings.ToLower(str(it, "id"))] = str(it, c.field)
		}
	}
	return names
}

// assignmentTable is az's: Principal, Role, Scope.
var assignmentTable = perItem(func(a any) row {
	return row{{"Principal", str(a, "principalName")}, {"Role", str(a, "roleDefinitionName")}, {"Scope", str(a, "scope")}}
})

// searchAssignments is az's _search_role_assignments: the assignments at
// scope (and, with inherited, above it; with scope "", in the whole
// subscription), of principal and role when given.
func (x *exec) searchAssignments(scope string, p principal, role *rbac.Role, inherited bool) ([]object, error) {
	var path string
	var filters []string
	if scope != "" {
		path = scope + roleAssignmentsPath
		filters = append(filters, "atScope()")
	} else {
		sp, err := x.c.subPath()
		if err != nil {
			return nil, err
		}
		path = sp + roleAssignmentsPath
	}
	if p.id != "" {
		filters = append(filters, "principalId eq '"+p.id+"'")
	}
	if len(filters) > 0 {
		path += "?" + url.Values{"$filter": {strings.Join(filters, " and ")}}.Encode()
	}
	items, err := x.c.list(path)
	if err != nil {
		return nil, err
	}
	var out []object
	for _, a := range objects(items) {
		s := strings.TrimRight(str(a, "properties", "scope"), "/")
		switch {
		case scope != "" && !inherited && !strings.EqualFold(s, scope):
			continue
		case scope != "" && inherited && !covers(s, scope):
			continue
		case p.id != "" && !strings.EqualFold(str(a, "properties", "principalId"), p.id):
			continue
		}
		if role != nil {
			if r, err := roleByName(str(a, "properties", "roleDefinitionId")); err != nil || r.ID != role.ID {
				continue
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// covers reports whether an assignment at outer applies at inner.
func covers(outer, inner string) bool {
	o, i := strings.ToLower(strings.TrimRight(outer, "/")), strings.ToLower(strings.TrimRight(inner, "/"))
	return i == o || strings.HasPrefix(i, o+"/")
}

func roleAssignmentList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List role assignments (by default those at the subscription; --all for every one in it)",
		example: "  moat role assignment list --all -o table\n" +
			"  moat role assignment list --assignee alice@example.com --scope <registry ID> --include-inherited",
		flags: func(cmd *cobra.Command) {
			assigneeFlags(cmd)
			cmd.Flags().String("role", "", "only assignments of this role")
			scopeFlags(cmd)
			cmd.Flags().Bool("all", false, "every assignment in the subscription, at any scope")
			cmd.Flags().Bool("include-inherited", false, "also the assignments above the scope that apply to it")
			cmd.Flags().Bool("include-groups", false, "accepted for az compatibility: moat has no groups")
		},
		table: assignmentTable,
		run: func(x *exec) (any, error) {
			all, _ := x.cmd.Flags().GetBool("all")
			inherited, _ := x.cmd.Flags().GetBool("include-inherited")
			scope := ""
			if all {
				if x.str("scope") != "" || x.str("resource-group") != "" {
					return nil, fmt.Errorf("usage error: --resource-group and --scope are not used with --all")
				}
			} else {
				var err error
				if scope, err = x.roleScope(); err != nil {
					return nil, err
				}
			}
			var role *rbac.Role
			if r := x.str("role"); r != "" {
				def, err := roleByName(r)
				if err != nil {
					return nil, err
				}
				role = &def
			}
			p, err := x.assigneeID()
			if err != nil {
				return nil, err
			}
			found, err := x.searchAssignments(scope, p, role, inherited)
			if err != nil {
				return nil, err
			}
			names := map[string]string{}
			if len(found) > 0 {
				names = x.principalNames()
			}
			out := []any{}
			for _, a := range found {
				out = append(out, assignmentView(a, names))
			}
			return out, nil
		},
	})
}

func roleAssignmentDelete() *cobra.Command {
	return leaf(spec{
		use: "delete", short: "Delete role assignments",
		example: "  moat role assignment delete --assignee alice@example.com --role AcrPush --scope <registry ID>\n" +
			"  moat role assignment delete --ids <assignment ID> [<assignment ID> ...]",
		flags: func(cmd *cobra.Command) {
			listFlag(cmd, "ids", "", "space-separated IDs of role assignments")
			assigneeFlags(cmd)
			cmd.Flags().String("role", "", "role name or ID")
			scopeFlags(cmd)
			cmd.Flags().Bool("include-inherited", false, "also delete matching assignments above the scope")
			yesFlag(cmd)
		},
		run: func(x *exec) (any, error) {
			if ids := x.list("ids"); len(ids) > 0 {
				if x.str("assignee") != "" || x.str("assignee-object-id") != "" || x.str("role") != "" || x.str("scope") != "" || x.str("resource-group") != "" {
					return nil, fmt.Errorf("usage error: --ids | --assignee --role --scope")
				}
				for _, id := range ids {
					if !strings.Contains(strings.ToLower(id), strings.ToLower(roleAssignmentsPath)+"/") {
						return nil, fmt.Errorf("%q is not a role assignment ID (…%s/{GUID})", id, roleAssignmentsPath)
					}
					if err := x.c.do(http.MethodDelete, id, nil, nil); err != nil {
						return nil, err
					}
				}
				return nil, nil
			}
			if x.str("assignee") == "" && x.str("assignee-object-id") == "" && x.str("role") == "" && x.str("scope") == "" && x.str("resource-group") == "" {
				return nil, fmt.Errorf("please provide at least one of these arguments: --ids, --assignee, --role, --resource-group, --scope")
			}
			scope, err := x.roleScope()
			if err != nil {
				return nil, err
			}
			var role *rbac.Role
			if r := x.str("role"); r != "" {
				def, err := roleByName(r)
				if err != nil {
					return nil, err
				}
				role = &def
			}
			p, err := x.assigneeID()
			if err != nil {
				return nil, err
			}
			if p.id == "" && role == nil {
				if err := x.confirm("This will delete all role assignments at the scope " + scope + ". Are you sure?"); err != nil {
					return nil, err
				}
			}
			inherited, _ := x.cmd.Flags().GetBool("include-inherited")
			found, err := x.searchAssignments(scope, p, role, inherited)
			if err != nil {
				return nil, err
			}
			if len(found) == 0 {
				return nil, fmt.Errorf("no matched assignments were found to delete")
			}
			for _, a := range found {
				if err := x.c.do(http.MethodDelete, str(a, "id"), nil, nil); err != nil {
					return nil, err
				}
			}
			return nil, nil
		},
	})
}

// roleDefinitionList lists the built-in roles as az role definition list
// prints them (roleName, name = GUID, permissions).
func roleDefinitionList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List the built-in roles",
		flags: func(cmd *cobra.Command) {
			cmd.Flags().String("name", "", "only the role with this name or ID")
		},
		table: perItem(func(r any) row {
			return row{{"Name", str(r, "roleName")}, {"Type", str(r, "roleType")}, {"Description", str(r, "description")}}
		}),
		run: func(x *exec) (any, error) {
			sub, err := x.c.subscription()
			if err != nil {
				return nil, err
			}
			out := []any{}
			for _, r := range rbac.Roles {
				if n := x.str("name"); n != "" && !strings.EqualFold(n, r.Name) && n != r.ID {
					continue
				}
				id := rbac.RoleDefinitionID(sub, r)
				out = append(out, object{
					"id": id, "name": r.ID, "type": "Microsoft.Authorization/roleDefinitions",
					"roleName": r.Name, "roleType": "BuiltInRole", "description": roleDescriptions[r.Name],
					"assignableScopes": []any{"/"},
					"permissions": []any{object{"actions": nonNil(r.Actions), "notActions": nonNil(r.NotActions),
						"dataActions": nonNil(r.DataActions), "notDataActions": nonNil(r.NotDataActions)}},
				})
			}
			return out, nil
		},
	})
}

var roleDescriptions = map[string]string{
	"Owner":                     "Grants full access to manage all resources, including the ability to assign roles.",
	"Contributor":               "Grants full access to manage all resources, but does not allow you to assign roles.",
	"Reader":                    "View all resources, but does not allow you to make any changes.",
	"AcrPull":                   "acr pull",
	"AcrPush":                   "acr push",
	"AcrDelete":                 "acr delete",
	"Network Contributor":       "Lets you manage networks, but not access to them.",
	"Managed Identity Operator": "Read and Assign User Assigned Identity",
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
