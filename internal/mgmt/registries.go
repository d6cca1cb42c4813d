package mgmt

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/moat-registry/moat/internal/resid"
)

const registryType = "Microsoft.ContainerRegistry/registries"

var skus = map[string]string{"basic": "Basic", "standard": "Standard", "premium": "Premium"}

func (h *Handler) registries(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if id.IsCollection() {
		if r.Method != http.MethodGet {
			return armErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET to list registries")
		}
		return h.listRegistries(w, r)
	}
	name := id.Name()
	switch r.Method {
	case http.MethodGet:
		reg, err := h.getRegistry(r, name)
		if err != nil {
			return err
		}
		return h.writeRegistry(w, r, http.StatusOK, reg)
	case http.MethodPut:
		return h.putRegistry(w, r, name)
	case http.MethodDelete:
		return h.deleteRegistry(w, r, name)
	}
	return armErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "method %s is not supported on a registry", r.Method)
}

func (h *Handler) getRegistry(r *http.Request, name string) (*meta.Registry, error) {
	reg, err := h.Meta.GetRegistry(r.Context(), strings.ToLower(name))
	if errors.Is(err, meta.ErrNotFound) {
		return nil, notFound("registry %q not found in resource group %q", name, DefaultGroup)
	}
	return reg, err
}

func (h *Handler) putRegistry(w http.ResponseWriter, r *http.Request, name string) error {
	if !names.ValidRegistry(name) {
		return badRequest("InvalidResourceName", "registry name %q is invalid: use 5-50 letters and digits", name)
	}
	var in RegistryResource
	if err := decode(r, &in); err != nil {
		return err
	}
	sku, ok := skus[strings.ToLower(in.SKU.Name)]
	if !ok {
		return badRequest("InvalidSkuName", "sku.name %q is invalid: use Basic, Standard or Premium", in.SKU.Name)
	}
	props, err := json.Marshal(in.Properties.withDefaults().stored())
	if err != nil {
		return err
	}
	ctx := r.Context()
	existing, err := h.Meta.GetRegistry(ctx, strings.ToLower(name))
	switch {
	case errors.Is(err, meta.ErrNotFound):
		if m := r.Header.Get("If-Match"); m != "" && m != "*" {
			return armErr(http.StatusPreconditionFailed, "PreconditionFailed", "registry %q does not exist, so If-Match %s cannot match", name, m)
		}
		reg := &meta.Registry{Key: strings.ToLower(name), Name: name, Subscription: h.Subscription, ResourceGroup: DefaultGroup,
			Location: h.location(in.Location), SKU: sku, Properties: props, CreatedAt: time.Now().UTC()}
		if err := h.Meta.CreateRegistry(ctx, reg); errors.Is(err, meta.ErrExists) {
			return armErr(http.StatusConflict, "Conflict", "registry %q was created concurrently; retry", name)
		} else if err != nil {
			return err
		}
		return h.changed(w, r, http.StatusCreated, reg)
	case err != nil:
		return err
	}
	if err := checkIfMatch(r, existing); err != nil {
		return err
	}
	existing.SKU, existing.Properties = sku, props
	if in.Location != "" {
		existing.Location = in.Location
	}
	if err := h.Meta.UpdateRegistry(ctx, existing); errors.Is(err, meta.ErrConflict) {
		return armErr(http.StatusPreconditionFailed, "PreconditionFailed", "registry %q changed while it was being updated; read it again and retry", name)
	} else if err != nil {
		return err
	}
	return h.changed(w, r, http.StatusOK, existing)
}

func (h *Handler) location(l string) string {
	if l == "" {
		return h.Location
	}
	return l
}

func checkIfMatch(r *http.Request, reg *meta.Registry) error {
	m := r.Header.Get("If-Match")
	if m == "" || m == "*" || m == etag(reg) {
		return nil
	}
	return armErr(http.StatusPreconditionFailed, "PreconditionFailed", "If-Match %s does not match the registry's ETag %s; read it again and retry", m, etag(reg))
}

func etag(reg *meta.Registry) string { return `"` + strconv.FormatInt(reg.Version, 10) + `"` }

// changed reloads the data plane's snapshot and answers with the registry.
func (h *Handler) changed(w http.ResponseWriter, r *http.Request, status int, reg *meta.Registry) error {
	if err := h.Index.Reload(r.Context()); err != nil {
		return err
	}
	return h.writeRegistry(w, r, status, reg)
}

func (h *Handler) deleteRegistry(w http.ResponseWriter, r *http.Request, name string) error {
	reg, err := h.getRegistry(r, name)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			w.WriteHeader(http.StatusNoContent) // ARM: deleting what is not there succeeds
			return nil
		}
		return err
	}
	if err := checkIfMatch(r, reg); err != nil {
		return err
	}
	if err := h.Meta.DeleteRegistry(r.Context(), reg.Key); err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	if err := h.Index.Reload(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) listRegistries(w http.ResponseWriter, r *http.Request) error {
	regs, err := h.Meta.ListRegistries(r.Context())
	if err != nil {
		return err
	}
	out := make([]RegistryResource, 0, len(regs))
	for _, reg := range regs {
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
	var p RegistryProperties
	if len(reg.Properties) > 0 {
		if err := json.Unmarshal(reg.Properties, &p); err != nil {
			return RegistryResource{}, err
		}
	}
	p = p.withDefaults()
	p.LoginServer = h.LoginServer(r, reg.Name)
	p.CreationDate = &reg.CreatedAt
	p.ProvisioningState = "Succeeded"
	p.PrivateEndpointConnections = []any{}
	return RegistryResource{
		ID:         resid.RegistryID(reg.Subscription, reg.ResourceGroup, reg.Name),
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
	w.Header().Set("ETag", etag(reg))
	writeJSON(w, status, res)
	return nil
}
