package mgmt

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/identity"
	"github.com/moat-registry/moat/internal/resid"
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

func (h *Handler) workspaces(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	ctx := r.Context()
	if id.IsCollection() {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r, "the workspace collection")
		}
		out, err := readableDocs(ctx, h, typeWorkspace, scopePrefix(id), func(ws *Workspace) string { return ws.ID })
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	}
	wid := groupID(id.Subscription, id.ResourceGroup) + "/providers/" + typeWorkspace + "/" + id.Name()
	var cur Workspace
	version, exists, err := h.load(ctx, wid, &cur)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		if !exists {
			return notFound("workspace %q not found in resource group %q", id.Name(), id.ResourceGroup)
		}
		return writeResource(w, http.StatusOK, cur, version)
	case http.MethodPut:
		return h.putWorkspace(w, r, id, wid, cur, exists, version)
	case http.MethodDelete:
		return h.deleteResource(w, r, exists, wid)
	}
	return methodNotAllowed(r, "a workspace")
}

func (h *Handler) scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// putWorkspace creates a workspace with its system-assigned identity and
// instance secret (answered once), or updates its tags and user-assigned
// identities.
func (h *Handler) putWorkspace(w http.ResponseWriter, r *http.Request, id resid.ID, wid string, cur Workspace, exists bool, version int64) error {
	ctx := r.Context()
	var in Workspace
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := ifMatch(r, version); err != nil {
		return err
	}
	if !exists && !validGroupName(id.Name()) {
		return badRequest("InvalidResourceName", "workspace name %q is invalid: use letters, digits, '-' and '_'", id.Name())
	}
	req, err := h.checkIdentity(ctx, wid, in.Identity)
	if err != nil {
		return err
	}
	var secret string
	if !exists {
		cur = Workspace{ID: wid, Name: id.Name(), Type: typeWorkspace, Location: h.location(in.Location),
			Properties: WorkspaceProperties{ProvisioningState: "Succeeded", CreationTime: time.Now().UTC()}}
		secret = identity.NewSecret()
		p := &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), DisplayName: id.Name(),
			Assignment: identity.SystemAssigned, Owner: wid, OwnerType: typeWorkspace,
			Secrets: []identity.Secret{{ID: "instance", Hash: identity.HashSecret(secret), CreatedAt: time.Now().UTC()}}}
		if err := h.Principals.Create(ctx, p); err != nil {
			return err
		}
		if _, err := h.save(ctx, identityDocID(wid), "moat/resourceIdentity", registryIdentity{SystemPrincipal: p.ID}, 0); err != nil {
			return err
		}
	}
	if in.Tags != nil {
		cur.Tags = in.Tags
	}
	if req != nil { // a workspace keeps its system-assigned identity whatever the type says
		var doc registryIdentity
		dv, _, err := h.load(ctx, identityDocID(wid), &doc)
		if err != nil {
			return err
		}
		if err := h.attachUserIdentities(ctx, wid, &doc, req.uids); err != nil {
			return err
		}
		if _, err := h.save(ctx, identityDocID(wid), "moat/resourceIdentity", doc, dv); err != nil {
			return err
		}
	}
	if cur.Identity, err = h.identityOf(ctx, wid); err != nil {
		return err
	}
	cur.Properties.IdentityEndpoint = h.scheme(r) + "://" + r.Host + "/identity/msi/token"
	cur.Properties.InstanceSecret = ""
	v, err := h.save(ctx, wid, typeWorkspace, cur, version)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if !exists {
		status = http.StatusCreated
		cur.Properties.InstanceSecret = secret
	}
	return writeResource(w, status, cur, v)
}
