package mgmt

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/store/meta"
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
	target, err := h.getRegistry(ctx, id.ResourceGroup, id.Names[0])
	if err != nil {
		return err
	}
	targetID := registryIDOf(target)
	var in ImportRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	src, srcRepo, err := h.importSource(r, in)
	if err != nil {
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

// importSource resolves the source of an import. The source is a linked
// access check: the caller needs pull on it, and one who may not pull gets
// the same answer whether the source registry exists or not.
func (h *Handler) importSource(r *http.Request, in ImportRequest) (src tasks.Ref, repo string, err error) {
	ctx := r.Context()
	srcImage, linked, field := in.Source.SourceImage, "", "source.sourceImage"
	switch {
	case srcImage == "":
		return src, "", badRequest("InvalidParameter", "source.sourceImage is required")
	case in.Source.ResourceID != "":
		var ok bool
		if linked, ok = linkedID(in.Source.ResourceID, "Microsoft.ContainerRegistry", "registries"); !ok {
			return src, "", badRequest("InvalidParameter", "source.resourceId %q is not a registry ID", in.Source.ResourceID)
		}
		if err := h.requireLinked(ctx, "source.resourceId", linked, rbac.ActionPull); err != nil {
			return src, "", err
		}
		rid, _ := resid.Parse(linked)
		srcImage = h.LoginServer(r, rid.Name()) + "/" + srcImage
	case in.Source.RegistryURI != "":
		srcImage, field = strings.TrimSuffix(in.Source.RegistryURI, "/")+"/"+srcImage, "source.registryUri"
	}
	if src, err = tasks.ParseRef(srcImage); err != nil {
		return src, "", badRequest("InvalidParameter", "source: %v", err)
	}
	name, repo := h.splitRef(src)
	reg, err := h.Meta.GetRegistry(ctx, strings.ToLower(name))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return src, "", err
	}
	if linked != "" {
		if reg == nil || !strings.EqualFold(registryIDOf(reg), linked) {
			return src, "", badRequest("InvalidParameter", "source registry %s does not exist", in.Source.ResourceID)
		}
		return src, repo, nil
	}
	switch {
	case reg != nil && h.may(ctx, registryIDOf(reg), rbac.ActionPull):
		return src, repo, nil
	case reg == nil && h.may(ctx, "/subscriptions/"+h.Subscription, rbac.ActionPull):
		// Only a caller who may pull from every registry learns that it is not one.
		return src, "", badRequest("InvalidParameter", "source registry %q is not a registry on this server; moat imports between its own registries", name)
	}
	// Named by login server: answered by that name, whether it exists or not.
	return src, "", linkedDenied(ctx, field, h.LoginServer(r, name), rbac.ActionPull)
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
