package mgmt

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/identity"
)

// Workspace is a machine-learning workspace: here only a service instance of
// a trusted type with a system-assigned identity.
type Workspace struct {
	ID         string                     `json:"id"`
	Name       string                     `json:"name"`
	Type       string                     `json:"type"`
	Location   string                     `json:"location,omitempty"`
	Tags       map[string]string          `json:"tags,omitempty"`
	Identity   *ManagedIdentityProperties `json:"identity,omitempty"`
	Properties WorkspaceProperties        `json:"properties"`
}

type WorkspaceProperties struct {
	ProvisioningState string    `json:"provisioningState"`
	CreationTime      time.Time `json:"creationTime"`
	// IdentityEndpoint is the managed-identity endpoint for the instance's
	// processes (IDENTITY_ENDPOINT); InstanceSecret (IDENTITY_HEADER) is
	// returned once, when the workspace is created.
	IdentityEndpoint string `json:"identityEndpoint"`
	InstanceSecret   string `json:"instanceSecret,omitempty"`
}

// workspaces is Microsoft.MachineLearningServices/workspaces. A workspace is
// created with its system-assigned identity and instance secret (answered
// once); a PUT of an existing one changes its tags and user-assigned
// identities.
var workspaces = &kind[Workspace]{
	typ: typeWorkspace, what: "workspace",
	load: func(c *call) (Workspace, int64, bool, error) {
		return loadDoc[Workspace](c, workspaceID(c.id.Subscription, c.id.ResourceGroup, c.id.Name()))
	},
	list: func(c *call) ([]listed[Workspace], error) {
		return listDocs(c, typeWorkspace, scopePrefix(c.id), func(ws *Workspace) string { return ws.ID })
	},
	render: renderWorkspace,
	put:    putWorkspace,
	remove: func(c *call, ws Workspace) error { return c.h.forget(c.ctx, ws.ID) },
}

func workspaceID(sub, rg, name string) string {
	return groupID(sub, rg) + "/providers/" + typeWorkspace + "/" + name
}

func (h *Handler) scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func renderWorkspace(c *call, ws Workspace, _ int64) (any, error) {
	var err error
	if ws.Identity, err = c.h.identityOf(c.ctx, ws.ID); err != nil {
		return nil, err
	}
	ws.Properties.IdentityEndpoint = c.h.scheme(c.r) + "://" + c.r.Host + "/identity/msi/token"
	return ws, nil
}

func putWorkspace(c *call, cur *Workspace, version int64, body []byte) (Workspace, int64, error) {
	var in Workspace
	if err := decodeBody(body, &in); err != nil {
		return in, 0, err
	}
	name := c.id.Name()
	wid := workspaceID(c.id.Subscription, c.id.ResourceGroup, name)
	if cur == nil && !validGroupName(name) {
		return in, 0, badRequest("InvalidResourceName", "workspace name %q is invalid: use letters, digits, '-' and '_'", name)
	}
	req, err := c.h.checkIdentity(c.ctx, wid, in.Identity)
	if err != nil {
		return in, 0, err
	}
	var ws Workspace
	var secret string
	if cur != nil {
		ws = *cur
	} else if ws, secret, err = c.h.newWorkspace(c.ctx, wid, name, in.Location); err != nil {
		return in, 0, err
	}
	ws.Tags = in.Tags
	if req != nil { // a workspace keeps its system-assigned identity whatever the type says
		if err := c.h.setUserIdentities(c.ctx, wid, req.uids); err != nil {
			return ws, 0, err
		}
	}
	// The identity is also kept in the document for /resources lists.
	if ws.Identity, err = c.h.identityOf(c.ctx, wid); err != nil {
		return ws, 0, err
	}
	ws.Properties.InstanceSecret, ws.Properties.IdentityEndpoint = "", ""
	v, err := c.h.save(c.ctx, wid, typeWorkspace, ws, version)
	ws.Properties.InstanceSecret = secret // answered once
	return ws, v, err
}

// newWorkspace makes a workspace's system-assigned identity with its instance secret.
func (h *Handler) newWorkspace(ctx context.Context, wid, name, location string) (Workspace, string, error) {
	ws := Workspace{ID: wid, Name: name, Type: typeWorkspace, Location: h.location(location),
		Properties: WorkspaceProperties{ProvisioningState: "Succeeded", CreationTime: time.Now().UTC()}}
	secret := identity.NewSecret()
	p := &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), DisplayName: name,
		Assignment: identity.SystemAssigned, Owner: wid, OwnerType: typeWorkspace,
		Secrets: []identity.Secret{{ID: "instance", Hash: identity.HashSecret(secret), CreatedAt: time.Now().UTC()}}}
	if err := h.Principals.Create(ctx, p); err != nil {
		return ws, "", err
	}
	_, err := h.save(ctx, identityDocID(wid), "moat/resourceIdentity", registryIdentity{SystemPrincipal: p.ID}, 0)
	return ws, secret, err
}

// setUserIdentities makes uids the user-assigned identities of a resource
// (its identity document keeps the rest).
func (h *Handler) setUserIdentities(ctx context.Context, resource string, uids []string) error {
	var doc registryIdentity
	dv, _, err := h.load(ctx, identityDocID(resource), &doc)
	if err != nil {
		return err
	}
	if err := h.attachUserIdentities(ctx, resource, &doc, uids); err != nil {
		return err
	}
	_, err = h.save(ctx, identityDocID(resource), "moat/resourceIdentity", doc, dv)
	return err
}
