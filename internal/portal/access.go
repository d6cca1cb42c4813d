package portal

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/model"
)

type accessData struct {
	Assignments []assignmentRow
	Roles       []string
}

type assignmentRow struct {
	ID, Role, Principal, PrincipalType, Scope string
	Inherited                                 bool // assigned at a wider scope (removed there, not here)
}

// directoryNames maps object IDs to user principal names and appIds (graph).
func (p *Portal) directoryNames(r *http.Request, s *session) map[string]string {
	names := map[string]string{}
	for _, kind := range []struct{ path, field string }{{"users", "userPrincipalName"}, {"servicePrincipals", "appId"}} {
		var list struct{ Value []map[string]any }
		if rec := p.call(r, http.MethodGet, r.Host, "/graph/v1.0/"+kind.path, bearer(s), nil); rec.Code == http.StatusOK {
			_ = json.Unmarshal(rec.Body.Bytes(), &list)
		}
		for _, o := range list.Value {
			id, _ := o["id"].(string)
			name, _ := o[kind.field].(string)
			if dn, _ := o["displayName"].(string); dn != "" && dn != name {
				name += " (" + dn + ")"
			}
			names[id] = name
		}
	}
	return names
}

func bearer(s *session) http.Header { return http.Header{"Authorization": {"Bearer " + s.Token}} }

// access lists the role assignments that apply to the registry: made on it
// or inherited from its resource group or subscription (atScope()).
func (p *Portal) access(w http.ResponseWriter, r *http.Request, s *session) {
	pg, reg, ok := p.registryPage(w, r, s, "access")
	if !ok {
		return
	}
	pg.Form.Set("role", "AcrPull")
	p.showAccess(w, r, s, http.StatusOK, pg, reg.ID)
}

func (p *Portal) showAccess(w http.ResponseWriter, r *http.Request, s *session, status int, pg *page, scope string) {
	var list struct{ Value []rbac.Assignment }
	if _, err := p.api(r, s, http.MethodGet, scope+"/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()", "", nil, &list); err != nil {
		p.failed(w, err)
		return
	}
	names := p.directoryNames(r, s)
	d := &accessData{}
	for _, a := range list.Value {
		role := a.Properties.RoleDefinitionName
		if rl, ok := a.Role(); ok {
			role = rl.Name
		}
		who := names[a.Properties.PrincipalID]
		if who == "" {
			who = a.Properties.PrincipalID
		}
		d.Assignments = append(d.Assignments, assignmentRow{ID: a.ID, Role: role, Principal: who, PrincipalType: a.Properties.PrincipalType,
			Scope: a.Properties.Scope, Inherited: !strings.EqualFold(strings.TrimRight(a.Properties.Scope, "/"), scope)})
	}
	for _, rl := range rbac.Roles {
		d.Roles = append(d.Roles, rl.Name)
	}
	pg.Data = d
	p.render(w, status, "access", pg)
}

// changeAccess adds or removes a role assignment at the registry's scope.
func (p *Portal) changeAccess(w http.ResponseWriter, r *http.Request, s *session) {
	group, name := r.PathValue("group"), r.PathValue("name")
	scope := p.registryPath(group, name)
	back := Prefix + "registries/" + url.PathEscape(group) + "/" + url.PathEscape(name) + "/access"
	f := r.PostForm
	var err error
	var notice, field string
	switch r.PathValue("action") {
	case "add":
		notice, field = "role-add", "assignee"
		err = p.assign(r, s, scope, strings.TrimSpace(f.Get("assignee")), f.Get("role"))
	case "remove":
		notice, field = "role-rem", "assignment"
		id := f.Get("assignment")
		if !strings.HasPrefix(strings.ToLower(id), strings.ToLower(scope)+"/providers/microsoft.authorization/roleassignments/") {
			err = &apiError{Status: http.StatusBadRequest, Message: "Only assignments made on this registry can be removed here; remove an inherited one at its own scope."}
			break
		}
		_, err = p.api(r, s, http.MethodDelete, id, "", nil, nil)
	default:
		p.message(w, http.StatusNotFound, "Not found", "The access control page has no such action.")
		return
	}
	p.afterChange(w, r, s, err, back, notice, "access", field, map[string]string{"role": "role"},
		func(pg *page, _ *model.RegistryResource) { p.showAccess(w, r, s, http.StatusBadRequest, pg, scope) })
}

// assign resolves the assignee as the CLI does (user principal name, then
// service principal appId; an object ID as is) and creates the assignment.
func (p *Portal) assign(r *http.Request, s *session, scope, assignee, role string) error {
	if assignee == "" {
		return &apiError{Status: http.StatusBadRequest, Message: "Enter a user principal name, a service principal's appId or an object ID."}
	}
	principal := assignee
	for _, kind := range []string{"users", "servicePrincipals"} {
		rec := p.call(r, http.MethodGet, r.Host, "/graph/v1.0/"+kind+"/"+url.PathEscape(assignee), bearer(s), nil)
		var o struct{ ID string }
		if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &o) == nil && o.ID != "" {
			principal = o.ID
			break
		}
	}
	rl, ok := rbac.RoleByName(role)
	if !ok {
		return &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf("Role %q does not exist; choose one of the list.", role)}
	}
	id := uuid.NewString()
	body := map[string]any{"properties": map[string]string{"roleDefinitionId": rbac.RoleDefinitionID(p.Subscription, rl), "principalId": principal}}
	_, err := p.api(r, s, http.MethodPut, scope+"/providers/Microsoft.Authorization/roleAssignments/"+id, "", body, nil)
	return err
}
