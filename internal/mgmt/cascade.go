package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Deletion cascades: deleting a resource group, registry, task, workspace or
// user-assigned identity removes everything that lived through it, so that
// nothing keeps working after it and a resource re-created under the same
// name inherits nothing.

// forget removes what a deleted resource (or resource group) at id leaves,
// at id and below it: the principals owned there (system-assigned
// identities, task instances, import principals, user-assigned identities)
// with their secrets and role assignments at any scope; the role
// assignments scoped there; the attachments of identities elsewhere to
// resources there; and every document stored there. Each change is a store
// write, so every other node follows at the change notice (server/follow.go);
// this node's snapshots are reloaded here.
func (h *Handler) forget(ctx context.Context, id string) error {
	if err := h.forgetPrincipals(ctx, id); err != nil {
		return err
	}
	as, err := h.assignmentsWhere(ctx, id+"/", func(a rbac.Assignment) bool { return rbac.Covers(id, a.Properties.Scope) })
	if err != nil {
		return err
	}
	if err := h.deleteAssignments(ctx, as); err != nil {
		return err
	}
	return h.deleteTree(ctx, id)
}

// forgetPrincipals removes the principals owned at id or below and the
// attachments of other identities to resources there.
func (h *Handler) forgetPrincipals(ctx context.Context, id string) error {
	if h.Principals == nil {
		return nil // handler tests without a directory
	}
	if err := h.Principals.Reload(ctx); err != nil { // principals another node made a moment ago
		return err
	}
	for _, p := range h.Principals.List(identity.KindManagedIdentity) {
		if rbac.Covers(id, p.Owner) {
			if err := h.removePrincipal(ctx, p); err != nil {
				return err
			}
		} else if err := h.detachUnder(ctx, p, id); err != nil {
			return err
		}
	}
	return nil
}

// detachUnder forgets a user-assigned identity's attachments to resources at id or below.
func (h *Handler) detachUnder(ctx context.Context, p *identity.Principal, id string) error {
	c := identity.Copy(p)
	c.AttachedTo = nil
	for _, a := range p.AttachedTo {
		if !rbac.Covers(id, a) {
			c.AttachedTo = append(c.AttachedTo, a)
		}
	}
	if len(c.AttachedTo) == len(p.AttachedTo) {
		return nil
	}
	return h.Principals.Update(ctx, c)
}

// removePrincipal deletes a principal (and so its secrets) and its role
// assignments at any scope.
func (h *Handler) removePrincipal(ctx context.Context, p *identity.Principal) error {
	as, err := h.assignmentsWhere(ctx, "", func(a rbac.Assignment) bool { return strings.EqualFold(a.Properties.PrincipalID, p.ID) })
	if err != nil {
		return err
	}
	if err := h.deleteAssignments(ctx, as); err != nil {
		return err
	}
	if err := h.Principals.Delete(ctx, p.ID); err != nil && !errors.Is(err, identity.ErrNotFound) {
		return err
	}
	return nil
}

// assignmentsWhere lists the stored role assignments with IDs under prefix
// ("" for all) that match. It reads the store, not this node's snapshot,
// so that an assignment another node made a moment ago is not missed.
func (h *Handler) assignmentsWhere(ctx context.Context, prefix string, match func(rbac.Assignment) bool) ([]rbac.Assignment, error) {
	rs, err := h.Meta.ListResources(ctx, rbac.AssignmentType, prefix)
	if err != nil {
		return nil, err
	}
	var out []rbac.Assignment
	for _, r := range rs {
		var a rbac.Assignment
		if json.Unmarshal(r.Body, &a) == nil && match(a) {
			a.ID = r.ID
			out = append(out, a)
		}
	}
	return out, nil
}

// deleteAssignments deletes role assignments and reloads this node's snapshot.
func (h *Handler) deleteAssignments(ctx context.Context, as []rbac.Assignment) error {
	for _, a := range as {
		if err := h.Meta.DeleteResource(ctx, a.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
	}
	if len(as) == 0 {
		return nil
	}
	return h.reloadRoles(ctx)
}

// reloadRoles reloads this node's role assignments after a change.
func (h *Handler) reloadRoles(ctx context.Context) error {
	if h.Roles == nil {
		return nil // handler tests without authorization
	}
	return h.Roles.Reload(ctx)
}

// typePlaceholder marks a document written only to be deleted with what is below it.
const typePlaceholder = "moat/placeholder"

// deleteTree deletes every document stored at id and below it. The store
// deletes a document's descendants with it; a placeholder at id makes that
// work where id itself has no document (a registry).
func (h *Handler) deleteTree(ctx context.Context, id string) error {
	err := h.Meta.PutResource(ctx, &meta.Resource{ID: id, Type: typePlaceholder, Body: json.RawMessage(`{}`)})
	if err != nil && !errors.Is(err, meta.ErrExists) && !errors.Is(err, meta.ErrConflict) {
		return err
	}
	if err := h.Meta.DeleteResource(ctx, id); err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	return h.reloadRoles(ctx) // assignments scoped below id went with it
}
