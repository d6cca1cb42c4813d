package mgmt

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/rbac"
)

// A task's identities: every task has an instance principal (holding the
// instance secret the runner uses); it is the task's system-assigned identity
// when the task has one, and hidden otherwise (docs/tasks.md).

// applyTaskIdentity gives a task its instance principal (created with the
// task: an instance secret kept for the runner, AcrPush and AcrDelete on its
// own registry, as ACR's run token has), which is the task's system-assigned
// identity when one is asked for and hidden otherwise, and attaches the
// user-assigned identities asked for (checked by checkIdentity).
func (h *Handler) applyTaskIdentity(ctx context.Context, regID, tid, name string, req *identityRequest) error {
	var doc taskIdentity
	version, _, err := h.load(ctx, identityDocID(tid), &doc)
	if err != nil {
		return err
	}
	if doc.SystemPrincipal == "" {
		secret := identity.NewSecret()
		p := &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), DisplayName: name,
			Assignment: identity.SystemAssigned, Owner: tid, OwnerType: typeTask,
			Secrets: []identity.Secret{{ID: "instance", Hash: identity.HashSecret(secret), CreatedAt: time.Now().UTC()}}}
		if err := h.Principals.Create(ctx, p); err != nil {
			return err
		}
		if _, err := h.save(ctx, secretDocID(tid), typeSecret, instanceSecret{Secret: secret}, 0); err != nil {
			return err
		}
		doc.SystemPrincipal = p.ID
		for _, role := range runTokenRoles {
			if err := h.assignRole(ctx, p.ID, regID, role); err != nil {
				return err
			}
		}
	} else if !req.system && !doc.SystemDisabled {
		// Like removing a system-assigned identity in the cloud: the roles it
		// was given go with it; the hidden instance keeps its run token.
		if err := h.keepRunToken(ctx, doc.SystemPrincipal, regID); err != nil {
			return err
		}
	}
	if err := h.attachUserIdentities(ctx, tid, &doc.registryIdentity, req.uids); err != nil {
		return err
	}
	doc.SystemDisabled = !req.system
	_, err = h.save(ctx, identityDocID(tid), "moat/resourceIdentity", doc, version)
	return err
}

// runTokenRoles are the roles a task's instance has on its own registry.
var runTokenRoles = []string{"AcrPush", "AcrDelete"}

// keepRunToken deletes a task instance's role assignments other than its run
// token on its own registry.
func (h *Handler) keepRunToken(ctx context.Context, principal, regID string) error {
	as, err := h.assignmentsWhere(ctx, "", func(a rbac.Assignment) bool {
		if !strings.EqualFold(a.Properties.PrincipalID, principal) {
			return false
		}
		role, _ := a.Role()
		return !strings.EqualFold(strings.TrimRight(a.Properties.Scope, "/"), regID) || !slices.Contains(runTokenRoles, role.Name)
	})
	if err != nil {
		return err
	}
	return h.deleteAssignments(ctx, as)
}

// checkCredentials accepts credentials that name "[system]" or the client ID
// of a user-assigned identity the task has after this request (ident, or
// else the ones attached now): attaching it needed the assign right.
func (h *Handler) checkCredentials(ctx context.Context, tid string, c *TaskCredentials, ident *identityRequest) error {
	var uids []string
	if ident != nil {
		uids = ident.uids
	} else {
		var doc registryIdentity
		if _, _, err := h.load(ctx, identityDocID(tid), &doc); err != nil {
			return err
		}
		uids = doc.UserAssigned
	}
	clients := map[string]bool{}
	for _, uid := range uids {
		var u UserAssignedIdentity
		if _, ok, err := h.load(ctx, uid, &u); err != nil {
			return err
		} else if ok {
			clients[strings.ToLower(u.Properties.ClientID)] = true
		}
	}
	for ls, cr := range c.CustomRegistries {
		if cr == nil || cr.Identity == "" || strings.EqualFold(cr.Identity, systemIdentity) || clients[strings.ToLower(cr.Identity)] {
			continue
		}
		return badRequest("InvalidCredentials", "the identity %q for %s is not a user-assigned identity attached to this task: attach it first (identity.userAssignedIdentities, which needs %s on it) and name it by its client ID, or use [system]",
			cr.Identity, ls, rbac.ActionAssignIdentity)
	}
	return nil
}

// taskIdentity is a task's identity document: the instance's principal
// always exists (it holds the instance secret); SystemDisabled hides it when
// the task was not given a system-assigned identity.
type taskIdentity struct {
	registryIdentity
	SystemDisabled bool `json:"systemDisabled,omitempty"`
}

func (h *Handler) taskIdentityOf(ctx context.Context, tid string) (*ManagedIdentityProperties, error) {
	var doc taskIdentity
	if _, _, err := h.load(ctx, identityDocID(tid), &doc); err != nil {
		return nil, err
	}
	out, err := h.identityOf(ctx, tid)
	if err != nil || out == nil || !doc.SystemDisabled {
		return out, err
	}
	out.PrincipalID = ""
	out.Type = strings.TrimPrefix(strings.TrimPrefix(out.Type, "SystemAssigned"), ", ")
	if out.Type == "" {
		return nil, nil
	}
	return out, nil
}

// assignRole gives a principal a built-in role at scope.
func (h *Handler) assignRole(ctx context.Context, principal, scope, roleName string) error {
	role, _ := rbac.RoleByName(roleName)
	name := uuid.NewString()
	id := scope + "/providers/Microsoft.Authorization/roleAssignments/" + name
	a := rbac.Assignment{ID: id, Name: name, Type: rbac.AssignmentType, Properties: rbac.AssignmentProperties{
		RoleDefinitionID: rbac.RoleDefinitionID(h.Subscription, role), RoleDefinitionName: role.Name,
		PrincipalID: principal, PrincipalType: identity.KindManagedIdentity, Scope: scope}}
	if _, err := h.save(ctx, id, rbac.AssignmentType, a, 0); err != nil {
		return err
	}
	return h.reloadRoles(ctx)
}

// hiddenInstance reports whether p is the instance principal of a task that
// has no system-assigned identity: it runs the task on its own registry and
// may be given no role.
func (h *Handler) hiddenInstance(ctx context.Context, p *identity.Principal) (bool, error) {
	if p.Kind != identity.KindManagedIdentity || p.OwnerType != typeTask {
		return false, nil
	}
	var doc taskIdentity
	_, ok, err := h.load(ctx, identityDocID(p.Owner), &doc)
	return ok && doc.SystemDisabled && strings.EqualFold(doc.SystemPrincipal, p.ID), err
}
