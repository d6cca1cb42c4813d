package mgmt

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/identity"
	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/rbac"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/tasks"
)

// importIdentity records the principal a registry imports as when it has no
// system-assigned identity of its own.
type importIdentity struct {
	Principal string `json:"principal"`
}

func importDocID(regID string) string { return regID + "/importIdentity" }

// ImportRequest is the body of POST .../registries/{r}/importImage.
type ImportRequest struct {
	Source struct {
		RegistryURI string `json:"registryUri,omitempty"`
		ResourceID  string `json:"resourceId,omitempty"`
		SourceImage string `json:"sourceImage"`
	} `json:"source"`
	TargetTags []string `json:"targetTags,omitempty"`
	Mode       string   `json:"mode,omitempty"` // NoForce (default) or Force
	// IncludeReferrers (moat): also copy the referrers of each manifest
	// copied (signatures, SBOMs, ...) into the target repositories.
	IncludeReferrers bool `json:"includeReferrers,omitempty"`
}

// importImage copies an image from another registry of this server into the
// target, server-side, as the trusted "registry import" service: the caller
// needs pull on the source and push on the target; the copy runs over the
// data plane as the target registry's identity with tokens limited to what
// the caller was checked for, so the source's network rules apply (SPEC 5).
func (h *Handler) importImage(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "importImage (use POST)")
	}
	if h.Tasks == nil || h.Mint == nil {
		return armErr(http.StatusNotImplemented, "NotImplemented", "this server does not import images")
	}
	target, targetID, err := h.taskRegistry(ctx, id)
	if err != nil {
		return err
	}
	var in ImportRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	srcImage := in.Source.SourceImage
	switch {
	case srcImage == "":
		return badRequest("InvalidParameter", "source.sourceImage is required")
	case in.Source.ResourceID != "":
		rid, err := resid.Parse(in.Source.ResourceID)
		if err != nil || !rid.Is("Microsoft.ContainerRegistry", "registries") || rid.IsCollection() {
			return badRequest("InvalidParameter", "source.resourceId %q is not a registry ID", in.Source.ResourceID)
		}
		srcImage = h.LoginServer(r, rid.Name()) + "/" + srcImage
	case in.Source.RegistryURI != "":
		srcImage = strings.TrimSuffix(in.Source.RegistryURI, "/") + "/" + srcImage
	}
	src, err := tasks.ParseRef(srcImage)
	if err != nil {
		return badRequest("InvalidParameter", "source: %v", err)
	}
	srcName, srcRepo := h.splitRef(src)
	srcReg, err := h.Meta.GetRegistry(ctx, srcName)
	if errors.Is(err, meta.ErrNotFound) {
		return badRequest("InvalidParameter", "source registry %q is not a registry on this server; moat imports between its own registries", srcName)
	} else if err != nil {
		return err
	}
	if err := h.require(ctx, registryIDOf(srcReg), rbac.ActionPull); err != nil {
		return err
	}
	if err := h.require(ctx, targetID, rbac.ActionPush); err != nil {
		return err
	}
	tags := in.TargetTags
	if len(tags) == 0 {
		if src.Tag == "" {
			return badRequest("InvalidParameter", "importing by digest needs targetTags (--image REPO:TAG)")
		}
		tags = []string{srcRepo + ":" + src.Tag}
	}
	ls := h.LoginServer(r, target.Name)
	var dsts []tasks.Ref
	for _, t := range tags {
		d, err := tasks.ParseRef(ls + "/" + t)
		if err != nil || d.Digest != "" {
			return badRequest("InvalidParameter", "target tag %q must be REPO:TAG", t)
		}
		dsts = append(dsts, d)
	}
	principal, err := h.importPrincipal(ctx, targetID, target.Name)
	if err != nil {
		return err
	}
	allowed := map[string]string{src.Host + " " + src.Repo: "pull"}
	for _, d := range dsts {
		allowed[d.Host+" "+d.Repo] = "pull,push"
	}
	mint := tasks.Minted(func(host string, scopes []string) (string, error) {
		var ok []string
		for _, s := range scopes {
			if t, rest, found := strings.Cut(s, ":"); found && t == "repository" {
				if i := strings.LastIndexByte(rest, ':'); i > 0 {
					if acts, granted := allowed[host+" "+rest[:i]]; granted {
						ok = append(ok, "repository:"+rest[:i]+":"+acts)
					}
				}
			}
		}
		return h.Mint(host, principal, ok)
	})
	res, err := h.Tasks.Import(ctx, src, dsts, tasks.ImportOptions{Force: strings.EqualFold(in.Mode, "Force"), Referrers: in.IncludeReferrers}, mint)
	var conflict *tasks.ConflictError
	var se *tasks.StatusError
	switch {
	case errors.As(err, &conflict):
		return armErr(http.StatusConflict, "ImportTargetExists", "%v", err)
	case errors.As(err, &se) && se.Status == http.StatusForbidden:
		return armErr(http.StatusForbidden, "ImportDenied", "the import was refused by a registry: %v", err)
	case err != nil:
		return badRequest("ImportFailed", "%v", err)
	}
	var names []string
	for _, x := range dsts {
		names = append(names, x.String())
	}
	out := map[string]any{"status": "Succeeded", "source": src.String(), "digest": res.Digest, "targets": names}
	if in.IncludeReferrers {
		out["referrers"] = res.Referrers
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// splitRef returns the registry and repository a reference names on this
// server (host style when the host ends in the login-server suffix).
func (h *Handler) splitRef(r tasks.Ref) (registry, repo string) {
	a, _ := addressing.New(h.ZoneSuffix, "") // validated with the configuration
	return a.Split(r.Host, r.Repo)
}

// importPrincipal is the identity a registry imports as: its system-assigned
// identity, or else a system-assigned principal of the registry made for
// imports (created on first use, removed with the registry; it has no roles).
func (h *Handler) importPrincipal(ctx context.Context, regID, name string) (string, error) {
	var doc registryIdentity
	if _, _, err := h.load(ctx, identityDocID(regID), &doc); err != nil {
		return "", err
	}
	if doc.SystemPrincipal != "" {
		return doc.SystemPrincipal, nil
	}
	var imp importIdentity
	if _, ok, err := h.load(ctx, importDocID(regID), &imp); err != nil {
		return "", err
	} else if ok {
		if _, ok := h.Principals.Get(imp.Principal); ok {
			return imp.Principal, nil
		}
	}
	p := &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), DisplayName: name + " (import)",
		Assignment: identity.SystemAssigned, Owner: regID, OwnerType: registryType}
	if err := h.Principals.Create(ctx, p); err != nil {
		return "", err
	}
	var cur importIdentity
	v, _, err := h.load(ctx, importDocID(regID), &cur)
	if err != nil {
		return "", err
	}
	if _, err := h.save(ctx, importDocID(regID), "moat/importIdentity", importIdentity{Principal: p.ID}, v); err != nil {
		return "", err
	}
	return p.ID, nil
}

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
	if len(id.Types) != 1 {
		return notFound("%s is not served", r.URL.Path)
	}
	wid := groupID(id.Subscription, id.ResourceGroup) + "/providers/" + typeWorkspace + "/" + id.Name()
	if err := h.requireVerb(r, typeWorkspace, wid); err != nil {
		return err
	}
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
		if in.Identity != nil {
			var doc registryIdentity
			dv, _, err := h.load(ctx, identityDocID(wid), &doc)
			if err != nil {
				return err
			}
			typ := strings.ToLower(strings.ReplaceAll(in.Identity.Type, " ", ""))
			if err := h.attachUserIdentities(ctx, wid, &doc, strings.Contains(typ, "userassigned"), in.Identity.UserAssignedIdentities); err != nil {
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
	case http.MethodDelete:
		if !exists {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if err := h.dropInstance(ctx, wid); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return methodNotAllowed(r, "a workspace")
}

func (h *Handler) scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
