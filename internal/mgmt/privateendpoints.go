package mgmt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"strings"

	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/resid"
)

// allEndpoints lists every private endpoint of the subscription.
func (h *Handler) allEndpoints(ctx context.Context) ([]PrivateEndpoint, error) {
	var out []PrivateEndpoint
	err := h.list(ctx, typePE, "/subscriptions/"+h.Subscription+"/", func(raw []byte, v int64) error {
		var pe PrivateEndpoint
		if err := json.Unmarshal(raw, &pe); err != nil {
			return err
		}
		pe.Etag = versionTag(v)
		out = append(out, pe)
		return nil
	})
	return out, err
}

func (h *Handler) endpointsWhere(ctx context.Context, match func(subnetID string) bool) ([]PrivateEndpoint, error) {
	all, err := h.allEndpoints(ctx)
	var out []PrivateEndpoint
	for _, pe := range all {
		if pe.Properties.Subnet != nil && match(strings.ToLower(pe.Properties.Subnet.ID)) {
			out = append(out, pe)
		}
	}
	return out, err
}

func (h *Handler) endpointsInSubnet(ctx context.Context, subnetID string) ([]PrivateEndpoint, error) {
	return h.endpointsWhere(ctx, func(s string) bool { return s == strings.ToLower(subnetID) })
}

func (h *Handler) endpointsInVNet(ctx context.Context, vid string) ([]PrivateEndpoint, error) {
	return h.endpointsWhere(ctx, func(s string) bool { return strings.HasPrefix(s, strings.ToLower(vid)+"/subnets/") })
}

// endpoints is Microsoft.Network/privateEndpoints: one connection to a
// registry, an address in a subnet. Creating one asks the registry for a
// connection (connections.go); a PUT of an existing one changes its tags
// only; deleting it deletes its connection.
var endpoints = &kind[PrivateEndpoint]{
	typ: typePE, what: "private endpoint",
	load: func(c *call) (PrivateEndpoint, int64, bool, error) {
		pe, v, ok, err := loadDoc[PrivateEndpoint](c, peID(c.id.Subscription, c.id.ResourceGroup, c.id.Name()))
		pe.Etag = versionTag(v)
		return pe, v, ok, err
	},
	list: func(c *call) ([]listed[PrivateEndpoint], error) {
		all, err := c.h.allEndpoints(c.ctx)
		var out []listed[PrivateEndpoint]
		prefix := strings.ToLower(scopePrefix(c.id))
		for _, pe := range all {
			if strings.HasPrefix(strings.ToLower(pe.ID), prefix) {
				out = append(out, listed[PrivateEndpoint]{id: pe.ID, s: pe, version: parseVersion(pe.Etag)})
			}
		}
		return out, err
	},
	render: func(c *call, pe PrivateEndpoint, _ int64) (any, error) { return pe, c.h.fillEndpoint(c.ctx, &pe) },
	put: func(c *call, cur *PrivateEndpoint, version int64, body []byte) (PrivateEndpoint, int64, error) {
		var in PrivateEndpoint
		if err := decodeBody(body, &in); err != nil {
			return in, 0, err
		}
		if cur != nil {
			return c.h.updateEndpoint(c.ctx, *cur, version, in)
		}
		return c.h.createEndpoint(c.ctx, c.id, in)
	},
	remove: func(c *call, pe PrivateEndpoint) error {
		if conn := connectionOf(pe); conn != nil {
			if err := c.h.deleteConnectionFor(c.ctx, conn.Properties.PrivateLinkServiceID, pe.ID); err != nil {
				return err
			}
		}
		return c.h.Meta.DeleteResource(c.ctx, pe.ID)
	},
}

func peID(sub, rg, name string) string {
	return groupID(sub, rg) + "/providers/Microsoft.Network/privateEndpoints/" + name
}

// connectionOf returns the endpoint's one connection (automatic or manual).
func connectionOf(pe PrivateEndpoint) *PLSConnection {
	if len(pe.Properties.PrivateLinkServiceConnections) > 0 {
		return &pe.Properties.PrivateLinkServiceConnections[0]
	}
	if len(pe.Properties.ManualPrivateLinkServiceConnections) > 0 {
		return &pe.Properties.ManualPrivateLinkServiceConnections[0]
	}
	return nil
}

func (h *Handler) createEndpoint(ctx context.Context, id resid.ID, in PrivateEndpoint) (PrivateEndpoint, int64, error) {
	if !validGroupName(id.Name()) {
		return in, 0, badRequest("InvalidResourceName", "private endpoint name %q is invalid", id.Name())
	}
	if err := h.requireRegistered(ctx, id.Subscription, "Microsoft.Network"); err != nil {
		return in, 0, err
	}
	auto, manual := in.Properties.PrivateLinkServiceConnections, in.Properties.ManualPrivateLinkServiceConnections
	if len(auto)+len(manual) != 1 {
		return in, 0, badRequest("InvalidParameter", "a private endpoint needs exactly one private link service connection (to a registry, group ID registry)")
	}
	conn := connectionOf(in)
	if in.Properties.Subnet == nil || in.Properties.Subnet.ID == "" {
		return in, 0, badRequest("InvalidParameter", "properties.subnet.id is required: the subnet the private endpoint lives in")
	}
	subnet, space, err := h.endpointSubnet(ctx, in.Properties.Subnet.ID)
	if err != nil {
		return in, 0, err
	}
	reg, err := h.endpointTarget(ctx, conn)
	if err != nil {
		return in, 0, err
	}
	ip, err := h.endpointIP(ctx, in, subnet, space)
	if err != nil {
		return in, 0, err
	}
	// Approved at once only when asked for automatically by a caller who may
	// approve connections on the registry (its writers); else the owner decides.
	status := StatusApproved
	if len(manual) > 0 || !h.may(ctx, reg, rbac.ActionApproveConnection) {
		status = StatusPending
	}
	pe := newEndpoint(peID(id.Subscription, id.ResourceGroup, id.Name()), id.Name(), h.location(in.Location), in, subnet.ID, reg, ip)
	pe.Tags = in.Tags
	version, err := h.save(ctx, pe.ID, typePE, pe, 0)
	if err != nil {
		return pe, 0, err
	}
	pec := PrivateEndpointConnection{ID: reg + "/privateEndpointConnections/" + pecName(pe), Name: pecName(pe), Type: typePEC}
	pec.Properties.PrivateEndpoint = &SubResource{ID: pe.ID}
	pec.Properties.PrivateLinkServiceConnectionState = &ConnectionState{Status: status, Description: describe(status), ActionsRequired: "None"}
	pec.Properties.ProvisioningState = "Succeeded"
	if _, err := h.save(ctx, pec.ID, typePEC, pec, 0); err != nil {
		_ = h.Meta.DeleteResource(ctx, pe.ID)
		return pe, 0, err
	}
	pe.Etag = versionTag(version)
	return pe, version, nil
}

// newEndpoint is a private endpoint with its one connection (named as
// asked, else like the endpoint) to registry reg and its address.
func newEndpoint(id, name, location string, in PrivateEndpoint, subnetID, reg string, ip netip.Addr) PrivateEndpoint {
	conn := connectionOf(in)
	connName := conn.Name
	if connName == "" {
		connName = name
	}
	pe := PrivateEndpoint{ID: id, Name: name, Type: typePE, Location: location}
	pe.Properties.Subnet = &SubResource{ID: subnetID}
	c := PLSConnection{ID: id + "/privateLinkServiceConnections/" + connName, Name: connName, Type: typePE + "/privateLinkServiceConnections",
		Properties: PLSCProperties{PrivateLinkServiceID: reg, GroupIDs: []string{"registry"}, RequestMessage: conn.Properties.RequestMessage}}
	if len(in.Properties.ManualPrivateLinkServiceConnections) > 0 {
		pe.Properties.ManualPrivateLinkServiceConnections = []PLSConnection{c}
	} else {
		pe.Properties.PrivateLinkServiceConnections = []PLSConnection{c}
	}
	var ipc PEIPConfig
	ipc.Name = "registry-ipconfig"
	ipc.Properties.PrivateIPAddress, ipc.Properties.GroupID, ipc.Properties.MemberName = ip.String(), "registry", "registry"
	pe.Properties.IPConfigurations = []PEIPConfig{ipc}
	pe.Properties.ProvisioningState = "Succeeded"
	return pe
}

func describe(status string) string {
	switch status {
	case StatusApproved:
		return "Auto-Approved"
	case StatusPending:
		return "Awaiting approval by the registry owner"
	}
	return ""
}

// pecName names a private endpoint's connection on the registry: the
// endpoint's name plus a short hash of its ID, unique across resource groups.
func pecName(pe PrivateEndpoint) string {
	sum := sha256.Sum256([]byte(strings.ToLower(pe.ID)))
	return pe.Name + "." + hex.EncodeToString(sum[:4])
}

// updateEndpoint allows changing tags only; the rest is fixed at creation.
func (h *Handler) updateEndpoint(ctx context.Context, cur PrivateEndpoint, version int64, in PrivateEndpoint) (PrivateEndpoint, int64, error) {
	if in.Properties.Subnet != nil && !strings.EqualFold(in.Properties.Subnet.ID, cur.Properties.Subnet.ID) {
		return cur, 0, badRequest("InvalidParameter", "the subnet of an existing private endpoint cannot change; delete and re-create it")
	}
	cur.Tags = in.Tags
	cur.Etag = ""
	v, err := h.save(ctx, cur.ID, typePE, cur, version)
	cur.Etag = versionTag(v)
	return cur, v, err
}

// fillEndpoint derives the connection state from the registry's connection
// (Disconnected when the registry or its connection is gone) and the DNS entry.
func (h *Handler) fillEndpoint(ctx context.Context, pe *PrivateEndpoint) error {
	conn := connectionOf(*pe)
	if conn == nil {
		return nil
	}
	state := &ConnectionState{Status: StatusDisconnected, Description: "the registry or its connection was deleted", ActionsRequired: "Recreate"}
	pec, err := h.connectionFor(ctx, conn.Properties.PrivateLinkServiceID, pe.ID)
	if err != nil {
		return err
	}
	if pec != nil {
		state = pec.Properties.PrivateLinkServiceConnectionState
	}
	conn.Properties.PrivateLinkServiceConnectionState = state
	conn.Properties.ProvisioningState = "Succeeded"
	pe.Properties.CustomDNSConfigs = nil
	if len(pe.Properties.IPConfigurations) > 0 {
		rid, _ := resid.Parse(conn.Properties.PrivateLinkServiceID)
		pe.Properties.CustomDNSConfigs = []CustomDNSEntry{{FQDN: strings.ToLower(rid.Name()) + ".privatelink", IPAddresses: []string{pe.Properties.IPConfigurations[0].Properties.PrivateIPAddress}}}
	}
	return nil
}
