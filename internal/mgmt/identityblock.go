package mgmt

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/rbac"
)

// identityRequest is what a request's identity block asks for, checked.
type identityRequest struct {
	system, user bool
	uids         []string // the user-assigned identities to attach (existing, assignable)
}

// checkIdentity parses a request's identity block for resource before
// anything changes: the type, and for each user-assigned identity not yet
// attached to resource the linked access check (assign/action on it: Managed
// Identity Operator, or Owner/Contributor of it) — whether it exists or not —
// then that it exists. nil in, nil out.
func (h *Handler) checkIdentity(ctx context.Context, resource string, in *ManagedIdentityProperties) (*identityRequest, error) {
	if in == nil {
		return nil, nil
	}
	req, err := identityType(in.Type)
	if err != nil || !req.user {
		return req, err
	}
	if len(in.UserAssignedIdentities) == 0 {
		return nil, badRequest("InvalidIdentity", "identity type UserAssigned needs userAssignedIdentities: the resource IDs of the identities (moat identity create)")
	}
	for _, raw := range slices.Sorted(maps.Keys(in.UserAssignedIdentities)) {
		uid, ok := linkedID(raw, "Microsoft.ManagedIdentity", "userAssignedIdentities")
		if !ok {
			return nil, badRequest("InvalidIdentity", "%q is not a user-assigned identity's resource ID (/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name})", raw)
		}
		if attached, err := h.attached(ctx, uid, resource); err != nil {
			return nil, err
		} else if !attached {
			if err := h.requireLinked(ctx, "identity.userAssignedIdentities", uid, rbac.ActionAssignIdentity); err != nil {
				return nil, err
			}
		}
		req.uids = append(req.uids, uid)
	}
	for i, uid := range req.uids {
		var u UserAssignedIdentity
		if _, ok, err := h.load(ctx, uid, &u); err != nil {
			return nil, err
		} else if !ok {
			return nil, badRequest("InvalidIdentity", "user-assigned identity %s does not exist; create it with 'moat identity create'", uid)
		}
		req.uids[i] = u.ID
	}
	return req, nil
}

// identityType parses an identity block's type.
func identityType(typ string) (*identityRequest, error) {
	switch strings.ToLower(strings.ReplaceAll(typ, " ", "")) {
	case "systemassigned":
		return &identityRequest{system: true}, nil
	case "userassigned":
		return &identityRequest{user: true}, nil
	case "systemassigned,userassigned":
		return &identityRequest{system: true, user: true}, nil
	case "none", "":
		return &identityRequest{}, nil
	}
	return nil, badRequest("InvalidIdentityType", "identity type %q is invalid: use SystemAssigned, UserAssigned, 'SystemAssigned, UserAssigned' or None", typ)
}

// attached reports whether the identity at uid is attached to resource now:
// its principal says so. (A resource's own list may still name an identity
// that was deleted and created again under the same ID: that one is new.)
func (h *Handler) attached(ctx context.Context, uid, resource string) (bool, error) {
	var u UserAssignedIdentity
	if _, ok, err := h.load(ctx, uid, &u); err != nil || !ok {
		return false, err
	}
	p, ok := h.Principals.Get(u.Properties.PrincipalID)
	return ok && slices.ContainsFunc(p.AttachedTo, func(a string) bool { return strings.EqualFold(a, resource) }), nil
}

// applyIdentity gives a registry the identities asked for (checked by
// checkIdentity): a system-assigned identity created with it (removed with
// it), and user-assigned ones attached.
func (h *Handler) applyIdentity(ctx context.Context, regID string, req *identityRequest) error {
	if req == nil {
		return nil
	}
	var doc registryIdentity
	version, _, err := h.load(ctx, identityDocID(regID), &doc)
	if err != nil {
		return err
	}
	if req.system && doc.SystemPrincipal == "" {
		p := &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), DisplayName: regID[strings.LastIndexByte(regID, '/')+1:],
			Assignment: identity.SystemAssigned, Owner: regID, OwnerType: registryType}
		if err := h.Principals.Create(ctx, p); err != nil {
			return err
		}
		doc.SystemPrincipal = p.ID
	} else if !req.system && doc.SystemPrincipal != "" {
		if p, ok := h.Principals.Get(doc.SystemPrincipal); ok {
			if err := h.removePrincipal(ctx, p); err != nil {
				return err
			}
		}
		doc.SystemPrincipal = ""
	}
	if err := h.attachUserIdentities(ctx, regID, &doc, req.uids); err != nil {
		return err
	}
	_, err = h.save(ctx, identityDocID(regID), "moat/resourceIdentity", doc, version)
	return err
}

// attachUserIdentities makes uids (checked by checkIdentity) the
// user-assigned identities of a resource.
func (h *Handler) attachUserIdentities(ctx context.Context, resource string, doc *registryIdentity, uids []string) error {
	for _, uid := range doc.UserAssigned {
		if err := h.setAttachment(ctx, uid, resource, false); err != nil {
			return err
		}
	}
	for _, uid := range uids {
		if err := h.setAttachment(ctx, uid, resource, true); err != nil {
			return err
		}
	}
	doc.UserAssigned = uids
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
