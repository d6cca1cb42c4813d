package mgmt

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/model"
)

const typeUAI = model.TypeUserAssignedIdentity

// registryIdentity is what a registry's identity block is stored as.
type registryIdentity struct {
	SystemPrincipal string   `json:"systemPrincipal,omitempty"`
	UserAssigned    []string `json:"userAssigned,omitempty"` // resource IDs
}

func identityDocID(regID string) string { return regID + "/identity" }

// identities is Microsoft.ManagedIdentity/userAssignedIdentities: a
// standalone identity (a principal) that resources can be given. A PUT of an
// existing one changes its tags; deleting it deletes its principal and every
// role assignment of or on it.
var identities = &kind[UserAssignedIdentity]{
	typ: typeUAI, what: "user-assigned identity",
	load: func(c *call) (UserAssignedIdentity, int64, bool, error) {
		return loadDoc[UserAssignedIdentity](c, uaiID(c.id.Subscription, c.id.ResourceGroup, c.id.Name()))
	},
	list: func(c *call) ([]listed[UserAssignedIdentity], error) {
		return listDocs(c, typeUAI, scopePrefix(c.id), func(u *UserAssignedIdentity) string { return u.ID })
	},
	render: func(_ *call, u UserAssignedIdentity, _ int64) (any, error) { return u, nil },
	put:    putIdentity,
	remove: func(c *call, u UserAssignedIdentity) error { return c.h.forget(c.ctx, u.ID) },
}

func uaiID(sub, rg, name string) string {
	return groupID(sub, rg) + "/providers/" + typeUAI + "/" + name
}

func putIdentity(c *call, cur *UserAssignedIdentity, version int64, body []byte) (UserAssignedIdentity, int64, error) {
	var in UserAssignedIdentity
	if err := decodeBody(body, &in); err != nil {
		return in, 0, err
	}
	if cur != nil {
		u := *cur
		u.Tags = in.Tags
		v, err := c.h.save(c.ctx, u.ID, typeUAI, u, version)
		return u, v, err
	}
	name := c.id.Name()
	if !validGroupName(name) {
		return in, 0, badRequest("InvalidResourceName", "identity name %q is invalid: use letters, digits, '-' and '_'", name)
	}
	uid := uaiID(c.id.Subscription, c.id.ResourceGroup, name)
	p := &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), DisplayName: name,
		Assignment: identity.UserAssigned, Owner: uid, OwnerType: typeUAI}
	if err := c.h.Principals.Create(c.ctx, p); err != nil {
		return in, 0, err
	}
	u := UserAssignedIdentity{ID: uid, Name: name, Type: typeUAI, Location: c.h.location(in.Location), Tags: in.Tags}
	u.Properties.PrincipalID, u.Properties.ClientID, u.Properties.TenantID = p.ID, p.Name, c.h.Tenant
	v, err := c.h.save(c.ctx, uid, typeUAI, u, 0)
	return u, v, err
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
