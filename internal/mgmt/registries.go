package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/moat-registry/moat/internal/resid"
)

const registryType = model.TypeRegistry

var skus = map[string]string{"basic": "Basic", "standard": "Standard", "premium": "Premium"}

func (h *Handler) registries(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if id.IsCollection() {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r, "the registry collection")
		}
		return h.listRegistries(w, r, id.ResourceGroup)
	}
	name := id.Name()
	switch r.Method {
	case http.MethodGet:
		reg, err := h.getRegistry(r.Context(), id.ResourceGroup, name)
		if err != nil {
			return err
		}
		return h.writeRegistry(w, r, http.StatusOK, reg)
	case http.MethodPut, http.MethodPatch:
		return h.putRegistry(w, r, id.ResourceGroup, name)
	case http.MethodDelete:
		return h.deleteRegistry(w, r, id.ResourceGroup, name)
	}
	return methodNotAllowed(r, "a registry")
}

// getRegistry finds a registry by name in a resource group.
func (h *Handler) getRegistry(ctx context.Context, rg, name string) (*meta.Registry, error) {
	reg, err := h.Meta.GetRegistry(ctx, strings.ToLower(name))
	if errors.Is(err, meta.ErrNotFound) || (err == nil && !strings.EqualFold(reg.ResourceGroup, rg)) {
		return nil, armErr(http.StatusNotFound, "ResourceNotFound", "registry %q not found in resource group %q", name, rg)
	}
	return reg, err
}

func decodeProps(reg *meta.Registry) (RegistryProperties, error) {
	var p RegistryProperties
	if len(reg.Properties) > 0 {
		if err := json.Unmarshal(reg.Properties, &p); err != nil {
			return p, err
		}
	}
	return p.WithDefaults(), nil
}

// putRegistry creates or replaces (PUT) or updates (PATCH) a registry.
func (h *Handler) putRegistry(w http.ResponseWriter, r *http.Request, rg, name string) error {
	ctx := r.Context()
	var in RegistryResource
	if err := decode(r, &in); err != nil {
		return err
	}
	existing, err := h.Meta.GetRegistry(ctx, strings.ToLower(name))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	if existing != nil && !strings.EqualFold(existing.ResourceGroup, rg) {
		// Names are unique per server (as ACR's are global): say it is taken, not where.
		return armErr(http.StatusConflict, "AlreadyInUse", "the registry name %q is already in use; registry names are unique per server: choose another", name)
	}
	var version int64
	if existing != nil {
		version = existing.Version
	}
	if err := ifMatch(r, version); err != nil {
		return err
	}
	if err := ifNoneMatch(r, existing != nil); err != nil {
		return err
	}
	if existing == nil && r.Method == http.MethodPatch {
		return armErr(http.StatusNotFound, "ResourceNotFound", "registry %q not found in resource group %q; create it with PUT", name, rg)
	}
	sku, props, err := h.merge(r, existing, in)
	if err != nil {
		return err
	}
	ident, err := h.checkIdentity(ctx, resid.RegistryID(h.Subscription, rg, name), in.Identity)
	if err != nil {
		return err
	}
	if existing == nil {
		return h.createRegistry(w, r, rg, name, in.Location, sku, props, ident)
	}
	if err := h.validateRegistry(ctx, existing, sku, &props); err != nil {
		return err
	}
	raw, err := json.Marshal(props.Stored())
	if err != nil {
		return err
	}
	existing.SKU, existing.Properties = sku, raw
	if in.Location != "" {
		existing.Location = in.Location
	}
	if err := h.applyIdentity(ctx, registryIDOf(existing), ident); err != nil {
		return err
	}
	if err := h.Meta.UpdateRegistry(ctx, existing); errors.Is(err, meta.ErrConflict) {
		return armErr(http.StatusPreconditionFailed, "PreconditionFailed", "registry %q changed while it was being updated; read it again and retry", name)
	} else if err != nil {
		return err
	}
	return h.changed(w, r, http.StatusOK, existing)
}

// merge computes the SKU and properties a PUT or PATCH asks for. PUT replaces
// every writable property (unset ones take their defaults); PATCH replaces
// only the properties given.
func (h *Handler) merge(r *http.Request, existing *meta.Registry, in RegistryResource) (string, RegistryProperties, error) {
	sku := ""
	if in.SKU.Name != "" {
		var ok bool
		if sku, ok = skus[strings.ToLower(in.SKU.Name)]; !ok {
			return "", RegistryProperties{}, badRequest("InvalidSkuName", "sku.name %q is invalid: use Basic, Standard or Premium", in.SKU.Name)
		}
	}
	if r.Method == http.MethodPut || existing == nil {
		if sku == "" {
			return "", RegistryProperties{}, badRequest("InvalidSkuName", "sku.name is required: use Basic, Standard or Premium")
		}
		return sku, in.Properties.WithDefaults(), nil
	}
	cur, err := decodeProps(existing)
	if err != nil {
		return "", cur, err
	}
	if sku == "" {
		sku = existing.SKU
	}
	p := in.Properties
	set := func(dst **bool, v *bool) {
		if v != nil {
			*dst = v
		}
	}
	set(&cur.AdminUserEnabled, p.AdminUserEnabled)
	set(&cur.AnonymousPullEnabled, p.AnonymousPullEnabled)
	set(&cur.NetworkRuleBypassAllowedForTasks, p.NetworkRuleBypassAllowedForTasks)
	set(&cur.DataEndpointEnabled, p.DataEndpointEnabled)
	if p.PublicNetworkAccess != "" {
		cur.PublicNetworkAccess = p.PublicNetworkAccess
	}
	if p.NetworkRuleBypassOptions != "" {
		cur.NetworkRuleBypassOptions = p.NetworkRuleBypassOptions
	}
	if p.NetworkRuleSet != nil {
		cur.NetworkRuleSet = p.NetworkRuleSet
	}
	mergePolicies(&cur, p.Policies)
	return sku, cur.WithDefaults(), nil
}

func (h *Handler) createRegistry(w http.ResponseWriter, r *http.Request, rg, name, location, sku string, props RegistryProperties, ident *identityRequest) error {
	ctx := r.Context()
	if !names.ValidRegistry(name) {
		return badRequest("InvalidResourceName", "registry name %q is invalid: use 5-50 letters and digits", name)
	}
	if err := h.requireRegistered(ctx, h.Subscription, "Microsoft.ContainerRegistry"); err != nil {
		return err
	}
	if err := h.validateRegistry(ctx, nil, sku, &props); err != nil {
		return err
	}
	raw, err := json.Marshal(props.Stored())
	if err != nil {
		return err
	}
	reg := &meta.Registry{Key: strings.ToLower(name), Name: name, Subscription: h.Subscription, ResourceGroup: rg,
		Location: h.location(location), SKU: sku, Properties: raw, CreatedAt: time.Now().UTC()}
	if err := h.Meta.CreateRegistry(ctx, reg); errors.Is(err, meta.ErrExists) {
		return armErr(http.StatusConflict, "AlreadyInUse", "registry %q was created concurrently; retry", name)
	} else if err != nil {
		return err
	}
	if err := h.applyIdentity(ctx, registryIDOf(reg), ident); err != nil {
		return err
	}
	return h.changed(w, r, http.StatusCreated, reg)
}

// changed reloads the data plane's snapshot and answers with the registry.
func (h *Handler) changed(w http.ResponseWriter, r *http.Request, status int, reg *meta.Registry) error {
	if err := h.Index.Reload(r.Context()); err != nil {
		return err
	}
	return h.writeRegistry(w, r, status, reg)
}

func (h *Handler) deleteRegistry(w http.ResponseWriter, r *http.Request, rg, name string) error {
	reg, err := h.getRegistry(r.Context(), rg, name)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		w.WriteHeader(http.StatusNoContent) // ARM: deleting what is not there succeeds
		return nil
	} else if err != nil {
		return err
	}
	if err := ifMatch(r, reg.Version); err != nil {
		return err
	}
	if err := h.removeRegistry(r.Context(), reg); err != nil {
		return err
	}
	if err := h.Index.Reload(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// removeRegistry deletes a registry, its content and everything that lived
// through it (forget: identities, tasks and their runs, connections, admin
// credentials, role assignments on it). Private endpoints that pointed at it
// remain and show Disconnected.
func (h *Handler) removeRegistry(ctx context.Context, reg *meta.Registry) error {
	if err := h.forget(ctx, registryIDOf(reg)); err != nil {
		return err
	}
	if err := h.Meta.DeleteRegistry(ctx, reg.Key); err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	return nil
}

func (h *Handler) listRegistries(w http.ResponseWriter, r *http.Request, rg string) error {
	regs, err := h.Meta.ListRegistries(r.Context())
	if err != nil {
		return err
	}
	out := make([]RegistryResource, 0, len(regs))
	for _, reg := range regs {
		if rg != "" && !strings.EqualFold(reg.ResourceGroup, rg) || !h.readable(r.Context(), registryType, registryIDOf(reg)) {
			continue
		}
		res, err := h.resource(r, reg)
		if err != nil {
			return err
		}
		out = append(out, res)
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

func (h *Handler) resource(r *http.Request, reg *meta.Registry) (RegistryResource, error) {
	p, err := decodeProps(reg)
	if err != nil {
		return RegistryResource{}, err
	}
	id := resid.RegistryID(reg.Subscription, reg.ResourceGroup, reg.Name)
	p.LoginServer = h.LoginServer(r, reg.Name)
	p.CreationDate = &reg.CreatedAt
	p.ProvisioningState = "Succeeded"
	if p.PrivateEndpointConnections, err = h.registryConnections(r.Context(), id); err != nil {
		return RegistryResource{}, err
	}
	ident, err := h.identityOf(r.Context(), id)
	if err != nil {
		return RegistryResource{}, err
	}
	return RegistryResource{
		Identity:   ident,
		ID:         id,
		Name:       reg.Name,
		Type:       registryType,
		Location:   reg.Location,
		SKU:        SKU{Name: reg.SKU, Tier: reg.SKU},
		Properties: p,
		SystemData: &SystemData{CreatedAt: reg.CreatedAt},
	}, nil
}

func (h *Handler) writeRegistry(w http.ResponseWriter, r *http.Request, status int, reg *meta.Registry) error {
	res, err := h.resource(r, reg)
	if err != nil {
		return err
	}
	return writeResource(w, status, res, reg.Version)
}
