package mgmt

import (
	"context"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/identity"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/resid"
)

const typeUAI = model.TypeUserAssignedIdentity

// registryIdentity is what a registry's identity block is stored as.
type registryIdentity struct {
	SystemPrincipal string   `json:"systemPrincipal,omitempty"`
	UserAssigned    []string `json:"userAssigned,omitempty"` // resource IDs
}

func identityDocID(regID string) string { return regID + "/identity" }

// userAssignedIdentities serves Microsoft.ManagedIdentity/userAssignedIdentities:
// a standalone identity (a principal) that resources can be given.
func (h *Handler) userAssignedIdentities(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	ctx := r.Context()
	if id.IsCollection() {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r, "the identity collection")
		}
		out, err := readableDocs(ctx, h, typeUAI, scopePrefix(id), func(u *UserAssignedIdentity) string { return u.ID })
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	}
	uid := groupID(id.Subscription, id.ResourceGroup) + "/providers/" + typeUAI + "/" + id.Name()
	var cur UserAssignedIdentity
	version, exists, err := h.load(ctx, uid, &cur)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		if !exists {
			return notFound("user-assigned identity %q not found in resource group %q", id.Name(), id.ResourceGroup)
		}
		return writeResource(w, http.StatusOK, cur, version)
	case http.MethodPut:
		var in UserAssignedIdentity
		if err := decode(r, &in); err != nil {
			return err
		}
		if err := ifMatch(r, version); err != nil {
			return err
		}
		if exists {
			cur.Tags = in.Tags
			if version, err = h.save(ctx, uid, typeUAI, cur, version); err != nil {
				return err
			}
			return writeResource(w, http.StatusOK, cur, version)
		}
		if !validGroupName(id.Name()) {
			return badRequest("InvalidResourceName", "identity name %q is invalid: use letters, digits, '-' and '_'", id.Name())
		}
		p := &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), DisplayName: id.Name(),
			Assignment: identity.UserAssigned, Owner: uid, OwnerType: typeUAI}
		if err := h.Principals.Create(ctx, p); err != nil {
			return err
		}
		u := UserAssignedIdentity{ID: uid, Name: id.Name(), Type: typeUAI, Location: h.location(in.Location), Tags: in.Tags}
		u.Properties.PrincipalID, u.Properties.ClientID, u.Properties.TenantID = p.ID, p.Name, h.Tenant
		if version, err = h.save(ctx, uid, typeUAI, u, 0); err != nil {
			return err
		}
		return writeResource(w, http.StatusCreated, u, version)
	case http.MethodDelete:
		// Its principal, and every role assignment of or on it, go with it.
		return h.deleteResource(w, r, exists, uid)
	}
	return methodNotAllowed(r, "a user-assigned identity")
}

// identityOf returns the identity block of a registry for output (nil when none).
func (h *Handler) identityOf(ctx context.Context, regID string) (*ManagedIdentityProperties, error) {
	var doc registryIdentity
	_, ok, err := h.load(ctx, identityDocID(regID), &doc)
	if err != nil || !ok || doc.SystemPrincipal == "" && len(doc.UserAssigned) == 0 {
		return nil, err
	}
	out := &ManagedIdentityProperties{TenantID: h.Tenant}
	var types []string
	if doc.SystemPrincipal != "" {
		types = append(types, "SystemAssigned")
		out.PrincipalID = doc.SystemPrincipal
	}
	if len(doc.UserAssigned) > 0 {
		types = append(types, "UserAssigned")
		out.UserAssignedIdentities = map[string]*UserIdentity{}
		for _, uid := range doc.UserAssigned {
			var u UserAssignedIdentity
			if _, ok, err := h.load(ctx, uid, &u); err == nil && ok {
				out.UserAssignedIdentities[u.ID] = &UserIdentity{PrincipalID: u.Properties.PrincipalID, ClientID: u.Properties.ClientID}
			}
		}
	}
	out.Type = strings.Join(types, ", ")
	return out, nil
}
