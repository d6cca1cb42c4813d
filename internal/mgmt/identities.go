package mgmt

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/identity"
	"github.com/moat-registry/moat/internal/meta"
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
	if err := h.requireVerb(r, typeUAI, uid); err != nil {
		return err
	}
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
		if !exists {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if p, ok := h.Principals.Get(cur.Properties.PrincipalID); ok {
			if err := h.removePrincipal(ctx, p); err != nil {
				return err
			}
		}
		if err := h.Meta.DeleteResource(ctx, uid); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return methodNotAllowed(r, "a user-assigned identity")
}

// applyIdentity gives a registry the identities asked for: a system-assigned
// identity created with it (removed with it), and user-assigned ones attached.
func (h *Handler) applyIdentity(ctx context.Context, regID string, in *ManagedIdentityProperties) error {
	if in == nil {
		return nil
	}
	typ := strings.ToLower(strings.ReplaceAll(in.Type, " ", ""))
	var wantSystem, wantUser bool
	switch typ {
	case "systemassigned":
		wantSystem = true
	case "userassigned":
		wantUser = true
	case "systemassigned,userassigned":
		wantSystem, wantUser = true, true
	case "none", "":
	default:
		return badRequest("InvalidIdentityType", "identity type %q is invalid: use SystemAssigned, UserAssigned, 'SystemAssigned, UserAssigned' or None", in.Type)
	}
	var doc registryIdentity
	version, _, err := h.load(ctx, identityDocID(regID), &doc)
	if err != nil {
		return err
	}
	if wantSystem && doc.SystemPrincipal == "" {
		p := &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), DisplayName: regID[strings.LastIndexByte(regID, '/')+1:],
			Assignment: identity.SystemAssigned, Owner: regID, OwnerType: registryType}
		if err := h.Principals.Create(ctx, p); err != nil {
			return err
		}
		doc.SystemPrincipal = p.ID
	} else if !wantSystem && doc.SystemPrincipal != "" {
		if p, ok := h.Principals.Get(doc.SystemPrincipal); ok {
			if err := h.removePrincipal(ctx, p); err != nil {
				return err
			}
		}
		doc.SystemPrincipal = ""
	}
	if err := h.attachUserIdentities(ctx, regID, &doc, wantUser, in.UserAssignedIdentities); err != nil {
		return err
	}
	_, err = h.save(ctx, identityDocID(regID), "moat/resourceIdentity", doc, version)
	return err
}

// attachUserIdentities replaces the user-assigned identities of a resource.
func (h *Handler) attachUserIdentities(ctx context.Context, regID string, doc *registryIdentity, want bool, ids map[string]*UserIdentity) error {
	var next []string
	if want {
		if len(ids) == 0 {
			return badRequest("InvalidIdentity", "identity type UserAssigned needs userAssignedIdentities: the resource IDs of the identities (moat identity create)")
		}
		for uid := range ids {
			var u UserAssignedIdentity
			_, ok, err := h.load(ctx, uid, &u)
			if err != nil {
				return err
			}
			if !ok {
				return badRequest("InvalidIdentity", "user-assigned identity %s does not exist; create it with 'moat identity create'", uid)
			}
			next = append(next, u.ID)
		}
	}
	for _, uid := range doc.UserAssigned {
		if err := h.setAttachment(ctx, uid, regID, false); err != nil {
			return err
		}
	}
	for _, uid := range next {
		if err := h.setAttachment(ctx, uid, regID, true); err != nil {
			return err
		}
	}
	doc.UserAssigned = next
	return nil
}

// setAttachment records (or forgets) that a user-assigned identity may be used by a resource.
func (h *Handler) setAttachment(ctx context.Context, uid, resource string, on bool) error {
	var u UserAssignedIdentity
	if _, ok, err := h.load(ctx, uid, &u); err != nil || !ok {
		return err
	}
	p, ok := h.Principals.Get(u.Properties.PrincipalID)
	if !ok {
		return nil
	}
	c := identity.Copy(p)
	var kept []string
	for _, a := range c.AttachedTo {
		if !strings.EqualFold(a, resource) {
			kept = append(kept, a)
		}
	}
	if on {
		kept = append(kept, resource)
	}
	c.AttachedTo = kept
	return h.Principals.Update(ctx, c)
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

// dropIdentity removes a deleted registry's system-assigned identity and attachments.
func (h *Handler) dropIdentity(ctx context.Context, regID string) error {
	if err := h.dropTrusted(ctx, regID); err != nil { // tasks and the import identity
		return err
	}
	if err := h.applyIdentity(ctx, regID, &ManagedIdentityProperties{Type: "None"}); err != nil {
		return err
	}
	if err := h.Meta.DeleteResource(ctx, identityDocID(regID)); err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	return nil
}

// removePrincipal deletes a principal and its role assignments.
func (h *Handler) removePrincipal(ctx context.Context, p *identity.Principal) error {
	for _, a := range h.Roles.All() {
		if strings.EqualFold(a.Properties.PrincipalID, p.ID) {
			if err := h.Meta.DeleteResource(ctx, a.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
				return err
			}
		}
	}
	if err := h.Principals.Delete(ctx, p.ID); err != nil && !errors.Is(err, identity.ErrNotFound) {
		return err
	}
	return h.Roles.Reload(ctx)
}
