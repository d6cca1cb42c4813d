package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/resid"
)

// registryConnections lists a registry's private endpoint connections.
func (h *Handler) registryConnections(ctx context.Context, regID string) ([]PrivateEndpointConnection, error) {
	out := []PrivateEndpointConnection{}
	err := h.list(ctx, typePEC, regID+"/privateEndpointConnections/", func(raw []byte, _ int64) error {
		var c PrivateEndpointConnection
		if err := json.Unmarshal(raw, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// connectionFor finds the registry's connection of one private endpoint (nil if none).
func (h *Handler) connectionFor(ctx context.Context, regID, peID string) (*PrivateEndpointConnection, error) {
	pecs, err := h.registryConnections(ctx, regID)
	if err != nil {
		return nil, err
	}
	for _, c := range pecs {
		if c.Properties.PrivateEndpoint != nil && strings.EqualFold(c.Properties.PrivateEndpoint.ID, peID) {
			return &c, nil
		}
	}
	return nil, nil
}

func (h *Handler) deleteConnectionFor(ctx context.Context, regID, peID string) error {
	c, err := h.connectionFor(ctx, regID, peID)
	if err != nil || c == nil {
		return err
	}
	if err := h.Meta.DeleteResource(ctx, c.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	return nil
}

// privateEndpointConnections serves a registry's connections: list, show,
// approve or reject (PUT), delete.
func (h *Handler) privateEndpointConnections(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	ctx := r.Context()
	reg, err := h.getRegistry(ctx, id.ResourceGroup, id.Names[0])
	if err != nil {
		return err
	}
	regID := registryIDOf(reg)
	if id.IsCollection() {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r, "the private endpoint connection collection")
		}
		pecs, err := h.registryConnections(ctx, regID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": pecs})
		return nil
	}
	cid := regID + "/privateEndpointConnections/" + id.Name()
	var c PrivateEndpointConnection
	version, ok, err := h.load(ctx, cid, &c)
	if err != nil {
		return err
	}
	if !ok {
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return notFound("private endpoint connection %q not found on registry %s", id.Name(), reg.Name)
	}
	switch r.Method {
	case http.MethodGet:
		return writeResource(w, http.StatusOK, c, version)
	case http.MethodPut:
		var in PrivateEndpointConnection
		if err := decode(r, &in); err != nil {
			return err
		}
		if err := ifMatch(r, version); err != nil {
			return err
		}
		if err := ifNoneMatch(r, true); err != nil {
			return err
		}
		if err := setState(&c, in.Properties.PrivateLinkServiceConnectionState); err != nil {
			return err
		}
		if version, err = h.save(ctx, cid, typePEC, c, version); err != nil {
			return err
		}
		if err := h.Index.Reload(ctx); err != nil {
			return err
		}
		return writeResource(w, http.StatusOK, c, version)
	case http.MethodDelete:
		if err := h.Meta.DeleteResource(ctx, cid); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		if err := h.Index.Reload(ctx); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return methodNotAllowed(r, "a private endpoint connection")
}

// setState applies an approve or reject. A rejected connection stays
// rejected: the endpoint's owner must create a new one.
func setState(c *PrivateEndpointConnection, in *ConnectionState) error {
	if in == nil {
		return badRequest("InvalidParameter", "properties.privateLinkServiceConnectionState.status is required: Approved or Rejected")
	}
	status, err := enum("privateLinkServiceConnectionState.status", in.Status, StatusApproved, StatusRejected, StatusPending)
	if err != nil {
		return err
	}
	cur := c.Properties.PrivateLinkServiceConnectionState
	if cur.Status == StatusRejected && status != StatusRejected {
		return badRequest("InvalidPrivateEndpointConnectionState", "connection %s was rejected and cannot be %s; the private endpoint must be deleted and created again", c.Name, strings.ToLower(status))
	}
	if status == StatusPending && cur.Status != StatusPending {
		return badRequest("InvalidPrivateEndpointConnectionState", "connection %s is %s and cannot go back to Pending", c.Name, cur.Status)
	}
	c.Properties.PrivateLinkServiceConnectionState = &ConnectionState{Status: status, Description: in.Description, ActionsRequired: "None"}
	return nil
}

// privateLinkResources lists the one private link resource of a registry: "registry".
func (h *Handler) privateLinkResources(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "private link resources")
	}
	reg, err := h.getRegistry(r.Context(), id.ResourceGroup, id.Names[0])
	if err != nil {
		return err
	}
	res := map[string]any{
		"id":   registryIDOf(reg) + "/privateLinkResources/registry",
		"name": "registry",
		"type": registryType + "/privateLinkResources",
		"properties": map[string]any{
			"groupId":           "registry",
			"requiredMembers":   []string{"registry", "registry_data_" + reg.Location},
			"requiredZoneNames": []string{"privatelink." + h.zoneSuffix()},
		},
	}
	if !id.IsCollection() {
		if !strings.EqualFold(id.Name(), "registry") {
			return notFound("private link resource %q not found; a registry has one: registry", id.Name())
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": []any{res}})
	return nil
}

func (h *Handler) zoneSuffix() string {
	if h.ZoneSuffix != "" {
		return h.ZoneSuffix
	}
	return "moat.local"
}
