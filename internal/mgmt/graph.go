package mgmt

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/identity"
)

// Directory is the identity directory the management API manages.
type Directory interface {
	Get(id string) (*identity.Principal, bool)
	Find(kind, name string) (*identity.Principal, bool)
	List(kind string) []*identity.Principal
	Create(ctx context.Context, p *identity.Principal) error
	Update(ctx context.Context, p *identity.Principal) error
	Delete(ctx context.Context, id string) error
	Reload(ctx context.Context) error
}

// directoryWrite is the action to create or delete users and service
// principals: Owners have it, Contributors do not (as with Entra roles).
const directoryWrite = "Microsoft.Authorization/directory/write"

// graphUser and graphSP are the Microsoft Graph shapes moat serves.
type graphUser struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
	DisplayName       string `json:"displayName"`
	AccountEnabled    bool   `json:"accountEnabled"`
	PasswordProfile   *struct {
		Password string `json:"password"`
	} `json:"passwordProfile,omitempty"`
}

type graphSP struct {
	ID          string `json:"id"`
	AppID       string `json:"appId"`
	DisplayName string `json:"displayName"`
	// Password is returned once, when the service principal is created.
	Password string `json:"password,omitempty"`
	Tenant   string `json:"tenant,omitempty"`
	// ServicePrincipalType is "ManagedIdentity" for a managed identity.
	ServicePrincipalType string `json:"servicePrincipalType,omitempty"`
	AccountEnabled       *bool  `json:"accountEnabled,omitempty"`
	// PasswordCredentials are the secrets' IDs (keyId), never their values.
	PasswordCredentials []passwordCredential `json:"passwordCredentials,omitempty"`
}

// Graph serves /graph/v1.0/users and /graph/v1.0/servicePrincipals.
func (h *Handler) Graph(w http.ResponseWriter, r *http.Request) {
	if err := h.graph(w, r); err != nil {
		writeErr(w, r, err)
	}
}

func (h *Handler) graph(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	r, err := h.authenticate(r)
	if err != nil {
		return err
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/graph/v1.0/")
	if !ok {
		return notFound("use /graph/v1.0/users or /graph/v1.0/servicePrincipals")
	}
	coll, key, _ := strings.Cut(rest, "/")
	if r.Method != http.MethodGet {
		if err := h.require(r.Context(), "/subscriptions/"+h.Subscription, directoryWrite); err != nil {
			return err
		}
	}
	switch coll {
	case "users":
		return h.users(w, r, key)
	case "servicePrincipals":
		return h.servicePrincipals(w, r, key)
	}
	return notFound("use /graph/v1.0/users or /graph/v1.0/servicePrincipals")
}

// lookup finds a principal by object ID or by name (UPN or appId).
func (h *Handler) lookup(kind, key string) (*identity.Principal, bool) {
	if p, ok := h.Principals.Get(key); ok && p.Kind == kind {
		return p, true
	}
	return h.Principals.Find(kind, key)
}

func (h *Handler) users(w http.ResponseWriter, r *http.Request, key string) error {
	ctx := r.Context()
	switch {
	case key == "" && r.Method == http.MethodGet:
		out := []graphUser{}
		for _, p := range h.Principals.List(identity.KindUser) {
			out = append(out, toGraphUser(p))
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	case key == "" && r.Method == http.MethodPost:
		var in graphUser
		if err := decode(r, &in); err != nil {
			return err
		}
		if in.UserPrincipalName == "" || strings.ContainsAny(in.UserPrincipalName, " /\\:") {
			return badRequest("InvalidUserPrincipalName", "userPrincipalName %q is invalid: use e.g. alice or alice@example.com", in.UserPrincipalName)
		}
		if in.PasswordProfile == nil || len(in.PasswordProfile.Password) < 8 {
			return badRequest("PasswordTooShort", "the password must be at least 8 characters (--password)")
		}
		p := &identity.Principal{Kind: identity.KindUser, Name: in.UserPrincipalName, DisplayName: in.DisplayName,
			Secrets: []identity.Secret{{ID: uuid.NewString(), Hash: identity.HashPassword(in.PasswordProfile.Password)}}}
		if p.DisplayName == "" {
			p.DisplayName = in.UserPrincipalName
		}
		if err := h.Principals.Create(ctx, p); errors.Is(err, identity.ErrExists) {
			return armErr(http.StatusConflict, "UserExists", "a user with userPrincipalName %q already exists", in.UserPrincipalName)
		} else if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, toGraphUser(p))
		return nil
	}
	p, ok := h.lookup(identity.KindUser, key)
	if !ok {
		return notFound("user %q not found", key)
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, toGraphUser(p))
		return nil
	case http.MethodDelete:
		return h.deletePrincipal(w, r, p)
	case http.MethodPatch:
		return h.patchPrincipal(w, r, p)
	}
	return methodNotAllowed(r, "a user")
}

func toGraphUser(p *identity.Principal) graphUser {
	return graphUser{ID: p.ID, UserPrincipalName: p.Name, DisplayName: p.DisplayName, AccountEnabled: !p.Disabled}
}

func (h *Handler) servicePrincipals(w http.ResponseWriter, r *http.Request, key string) error {
	ctx := r.Context()
	key, action, _ := strings.Cut(key, "/")
	switch {
	case key == "" && r.Method == http.MethodGet:
		out := []graphSP{}
		for _, p := range h.Principals.List(identity.KindServicePrincipal) {
			out = append(out, graphSP{ID: p.ID, AppID: p.Name, DisplayName: p.DisplayName})
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	case key == "" && r.Method == http.MethodPost:
		var in graphSP
		if err := decode(r, &in); err != nil {
			return err
		}
		if in.DisplayName == "" {
			return badRequest("InvalidDisplayName", "displayName is required (--name)")
		}
		secret := identity.NewSecret()
		p := &identity.Principal{Kind: identity.KindServicePrincipal, Name: uuid.NewString(), DisplayName: in.DisplayName,
			Secrets: []identity.Secret{{ID: uuid.NewString(), Hash: identity.HashSecret(secret)}}}
		if err := h.Principals.Create(ctx, p); err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, graphSP{ID: p.ID, AppID: p.Name, DisplayName: p.DisplayName, Password: secret, Tenant: h.Tenant})
		return nil
	}
	p, ok := h.lookup(identity.KindServicePrincipal, key)
	if !ok {
		// A managed identity is a service principal of the directory too (as
		// in Entra ID), found by object ID or client ID, so that
		// `role assignment create --assignee <principalId>` finds it. It is
		// read-only here: it goes with its identity resource or instance.
		if mi, found := h.lookup(identity.KindManagedIdentity, key); found && r.Method == http.MethodGet {
			writeJSON(w, http.StatusOK, graphSP{ID: mi.ID, AppID: mi.Name, DisplayName: mi.DisplayName, ServicePrincipalType: "ManagedIdentity"})
			return nil
		}
		return notFound("service principal %q not found", key)
	}
	switch {
	case action == "addPassword" && r.Method == http.MethodPost:
		return h.addPassword(w, r, p)
	case action == "removePassword" && r.Method == http.MethodPost:
		return h.removePassword(w, r, p)
	case action != "":
		return notFound("use /graph/v1.0/servicePrincipals/{id}, .../addPassword or .../removePassword")
	case r.Method == http.MethodGet:
		enabled := !p.Disabled
		writeJSON(w, http.StatusOK, graphSP{ID: p.ID, AppID: p.Name, DisplayName: p.DisplayName, AccountEnabled: &enabled,
			PasswordCredentials: passwordCredentials(p)})
		return nil
	case r.Method == http.MethodDelete:
		return h.deletePrincipal(w, r, p)
	case r.Method == http.MethodPatch:
		return h.patchPrincipal(w, r, p)
	}
	return methodNotAllowed(r, "a service principal")
}

// deletePrincipal removes a principal and its role assignments.
func (h *Handler) deletePrincipal(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	ctx := r.Context()
	if p.Kind == identity.KindUser && p.Name == "admin" && caller(ctx) == p.ID {
		return badRequest("CannotDeleteSelf", "the administrator cannot delete itself")
	}
	if err := h.removePrincipal(ctx, p); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
