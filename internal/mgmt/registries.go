package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/store/meta"
)

const registryType = model.TypeRegistry

var skus = map[string]string{"basic": "Basic", "standard": "Standard", "premium": "Premium"}

// registries is Microsoft.ContainerRegistry/registries. Names are unique per
// server (as ACR's are global). A PUT replaces every writable property
// (unset ones take their defaults); a PUT or PATCH without an identity
// block leaves the identities as they are.
var registries = &kind[*meta.Registry]{
	typ: registryType, what: "registry", shape: registryShape,
	load: func(c *call) (*meta.Registry, int64, bool, error) {
		reg, err := c.h.getRegistry(c.ctx, c.id.ResourceGroup, c.id.Name())
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			return nil, 0, false, nil
		}
		if err != nil {
			return nil, 0, false, err
		}
		return reg, reg.Version, true, nil
	},
	list:   listRegistries,
	render: func(c *call, reg *meta.Registry, _ int64) (any, error) { return c.h.resource(c.r, reg) },
	put:    auditedPut,
	remove: auditedRemove,
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

// putRegistry creates a registry or replaces its properties.
func putRegistry(c *call, cur **meta.Registry, _ int64, body []byte) (*meta.Registry, int64, error) {
	var in RegistryResource
	if err := decodeBody(body, &in); err != nil {
		return nil, 0, err
	}
	sku, ok := skus[strings.ToLower(in.SKU.Name)]
	if !ok {
		return nil, 0, badRequest("InvalidSkuName", "sku.name %q is invalid: use Basic, Standard or Premium", in.SKU.Name)
	}
	props := in.Properties.WithDefaults()
	name := c.id.Name()
	ident, err := c.h.checkIdentity(c.ctx, resid.RegistryID(c.id.Subscription, c.id.ResourceGroup, name), in.Identity)
	if err != nil {
		return nil, 0, err
	}
	if cur == nil {
		reg, err := c.h.createRegistry(c.ctx, c.id.ResourceGroup, name, in.Location, sku, props, ident)
		if err != nil {
			return nil, 0, err
		}
		return reg, reg.Version, nil
	}
	existing := *cur
	if err := c.h.validateRegistry(c.ctx, existing, sku, &props); err != nil {
		return nil, 0, err
	}
	raw, err := json.Marshal(props.Stored())
	if err != nil {
		return nil, 0, err
	}
	existing.SKU, existing.Properties = sku, raw
	if in.Location != "" {
		existing.Location = in.Location
	}
	if err := c.h.applyIdentity(c.ctx, registryIDOf(existing), ident); err != nil {
		return nil, 0, err
	}
	if err := c.h.Meta.UpdateRegistry(c.ctx, existing); errors.Is(err, meta.ErrConflict) {
		return nil, 0, armErr(http.StatusPreconditionFailed, "PreconditionFailed", "registry %q changed while it was being updated; read it again and retry", name)
	} else if err != nil {
		return nil, 0, err
	}
	return existing, existing.Version, nil
}

func (h *Handler) createRegistry(ctx context.Context, rg, name, location, sku string, props RegistryProperties, ident *identityRequest) (*meta.Registry, error) {
	if !names.ValidRegistry(name) {
		return nil, badRequest("InvalidResourceName", "registry name %q is invalid: use 5-50 letters and digits", name)
	}
	if err := h.requireRegistered(ctx, h.Subscription, "Microsoft.ContainerRegistry"); err != nil {
		return nil, err
	}
	if err := h.validateRegistry(ctx, nil, sku, &props); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(props.Stored())
	if err != nil {
		return nil, err
	}
	reg := &meta.Registry{Key: strings.ToLower(name), Name: name, Subscription: h.Subscription, ResourceGroup: rg,
		Location: h.location(location), SKU: sku, Properties: raw, CreatedAt: time.Now().UTC()}
	if err := h.Meta.CreateRegistry(ctx, reg); errors.Is(err, meta.ErrExists) {
		// Names are unique per server: say it is taken, not where.
		return nil, armErr(http.StatusConflict, "AlreadyInUse", "the registry name %q is already in use; registry names are unique per server: choose another", name)
	} else if err != nil {
		return nil, err
	}
	return reg, h.applyIdentity(ctx, registryIDOf(reg), ident)
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

func listRegistries(c *call) ([]listed[*meta.Registry], error) {
	regs, err := c.h.Meta.ListRegistries(c.ctx)
	if err != nil {
		return nil, err
	}
	var out []listed[*meta.Registry]
	for _, reg := range regs {
		if c.id.ResourceGroup == "" || strings.EqualFold(reg.ResourceGroup, c.id.ResourceGroup) {
			out = append(out, listed[*meta.Registry]{id: registryIDOf(reg), s: reg, version: reg.Version})
		}
	}
	return out, nil
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
