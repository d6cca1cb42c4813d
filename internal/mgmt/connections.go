package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/store/meta"
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

// connections is a registry's private endpoint connections: made and
// removed with private endpoints (privateendpoints.go); the registry's owner
// approves or rejects one (PUT) or deletes it.
var connections = &kind[PrivateEndpointConnection]{
	typ: typePEC, what: "private endpoint connection", noPatch: true,
	parent: registryParent,
	load: func(c *call) (PrivateEndpointConnection, int64, bool, error) {
		return loadDoc[PrivateEndpointConnection](c, c.parentID+"/privateEndpointConnections/"+c.id.Name())
	},
	list: func(c *call) ([]listed[PrivateEndpointConnection], error) {
		return listDocs(c, typePEC, c.parentID+"/privateEndpointConnections/", func(p *PrivateEndpointConnection) string { return p.ID })
	},
	render: func(_ *call, p PrivateEndpointConnection, _ int64) (any, error) { return p, nil },
	put:    putConnection,
	remove: func(c *call, p PrivateEndpointConnection) error {
		if err := c.h.Meta.DeleteResource(c.ctx, p.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		return nil
	},
}

// registryParent finds the registry of a registry's child resource.
func registryParent(c *call) error {
	reg, err := c.h.getRegistry(c.ctx, c.id.ResourceGroup, c.id.Names[0])
	if err != nil {
		return err
	}
	c.parentID, c.parentName = registryIDOf(reg), reg.Name
	return nil
}

// putConnection approves or rejects a connection; connections are created
// by private endpoints only.
func putConnection(c *call, cur *PrivateEndpointConnection, version int64, body []byte) (PrivateEndpointConnection, int64, error) {
	var in PrivateEndpointConnection
	if err := decodeBody(body, &in); err != nil {
		return in, 0, err
	}
	if cur == nil {
		return in, 0, notFound("private endpoint connection %q not found on registry %s; connections are made by creating a private endpoint (moat network private-endpoint create)", c.id.Name(), c.parentName)
	}
	p := *cur
	if err := setState(&p, in.Properties.PrivateLinkServiceConnectionState); err != nil {
		return p, 0, err
	}
	v, err := c.h.save(c.ctx, p.ID, typePEC, p, version)
	return p, v, err
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
