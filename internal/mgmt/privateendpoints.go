package mgmt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/moat-registry/moat/internal/rbac"
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

func (h *Handler) privateEndpoints(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	ctx := r.Context()
	if id.IsCollection() {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r, "the private endpoint collection")
		}
		out := []PrivateEndpoint{}
		all, err := h.allEndpoints(ctx)
		if err != nil {
			return err
		}
		prefix := strings.ToLower(scopePrefix(id))
		for _, pe := range all {
			if strings.HasPrefix(strings.ToLower(pe.ID), prefix) && h.readable(ctx, typePE, pe.ID) {
				if err := h.fillEndpoint(ctx, &pe); err != nil {
					return err
				}
				out = append(out, pe)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	}
	peID := groupID(id.Subscription, id.ResourceGroup) + "/providers/Microsoft.Network/privateEndpoints/" + id.Name()
	var cur PrivateEndpoint
	version, exists, err := h.load(ctx, peID, &cur)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		if !exists {
			return notFound("private endpoint %q not found in resource group %q", id.Name(), id.ResourceGroup)
		}
		if err := h.fillEndpoint(ctx, &cur); err != nil {
			return err
		}
		return writeResource(w, http.StatusOK, cur, version)
	case http.MethodPut:
		if err := ifMatch(r, version); err != nil {
			return err
		}
		if err := ifNoneMatch(r, exists); err != nil {
			return err
		}
		if exists {
			return h.updateEndpoint(w, r, cur, version)
		}
		return h.createEndpoint(w, r, id, peID)
	case http.MethodDelete:
		if !exists {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if err := ifMatch(r, version); err != nil {
			return err
		}
		if conn := connectionOf(cur); conn != nil {
			if err := h.deleteConnectionFor(ctx, conn.Properties.PrivateLinkServiceID, cur.ID); err != nil {
				return err
			}
		}
		if err := h.Meta.DeleteResource(ctx, peID); err != nil {
			return err
		}
		return h.Index.Reload(ctx)
	}
	return methodNotAllowed(r, "a private endpoint")
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

func (h *Handler) createEndpoint(w http.ResponseWriter, r *http.Request, id resid.ID, peID string) error {
	ctx := r.Context()
	var in PrivateEndpoint
	if err := decode(r, &in); err != nil {
		return err
	}
	if !validGroupName(id.Name()) {
		return badRequest("InvalidResourceName", "private endpoint name %q is invalid", id.Name())
	}
	if err := h.requireRegistered(ctx, id.Subscription, "Microsoft.Network"); err != nil {
		return err
	}
	auto, manual := in.Properties.PrivateLinkServiceConnections, in.Properties.ManualPrivateLinkServiceConnections
	if len(auto)+len(manual) != 1 {
		return badRequest("InvalidParameter", "a private endpoint needs exactly one private link service connection (to a registry, group ID registry)")
	}
	conn := connectionOf(in)
	if in.Properties.Subnet == nil || in.Properties.Subnet.ID == "" {
		return badRequest("InvalidParameter", "properties.subnet.id is required: the subnet the private endpoint lives in")
	}
	subnet, space, err := h.endpointSubnet(ctx, in.Properties.Subnet.ID)
	if err != nil {
		return err
	}
	reg, err := h.endpointTarget(ctx, conn)
	if err != nil {
		return err
	}
	ip, err := h.endpointIP(ctx, in, subnet, space)
	if err != nil {
		return err
	}
	// Approved at once only when asked for automatically by a caller who may
	// approve connections on the registry (its writers); else the owner decides.
	status := StatusApproved
	if len(manual) > 0 || !h.may(ctx, reg, rbac.ActionApproveConnection) {
		status = StatusPending
	}
	connName := conn.Name
	if connName == "" {
		connName = id.Name()
	}
	pe := PrivateEndpoint{ID: peID, Name: id.Name(), Type: typePE, Location: h.location(in.Location), Tags: in.Tags}
	pe.Properties.Subnet = &SubResource{ID: subnet.ID}
	c := PLSConnection{ID: peID + "/privateLinkServiceConnections/" + connName, Name: connName, Type: typePE + "/privateLinkServiceConnections",
		Properties: PLSCProperties{PrivateLinkServiceID: reg, GroupIDs: []string{"registry"}, RequestMessage: conn.Properties.RequestMessage}}
	if len(manual) > 0 {
		pe.Properties.ManualPrivateLinkServiceConnections = []PLSConnection{c}
	} else {
		pe.Properties.PrivateLinkServiceConnections = []PLSConnection{c}
	}
	var ipc PEIPConfig
	ipc.Name = "registry-ipconfig"
	ipc.Properties.PrivateIPAddress, ipc.Properties.GroupID, ipc.Properties.MemberName = ip.String(), "registry", "registry"
	pe.Properties.IPConfigurations = []PEIPConfig{ipc}
	pe.Properties.ProvisioningState = "Succeeded"
	version, err := h.save(ctx, peID, typePE, pe, 0)
	if err != nil {
		return err
	}
	pec := PrivateEndpointConnection{ID: reg + "/privateEndpointConnections/" + pecName(pe), Name: pecName(pe), Type: typePEC}
	pec.Properties.PrivateEndpoint = &SubResource{ID: peID}
	pec.Properties.GroupIDs = []string{"registry"}
	pec.Properties.PrivateLinkServiceConnectionState = &ConnectionState{Status: status, Description: describe(status), ActionsRequired: "None"}
	pec.Properties.ProvisioningState = "Succeeded"
	if _, err := h.save(ctx, pec.ID, typePEC, pec, 0); err != nil {
		h.Meta.DeleteResource(ctx, peID)
		return err
	}
	if err := h.Index.Reload(ctx); err != nil {
		return err
	}
	if err := h.fillEndpoint(ctx, &pe); err != nil {
		return err
	}
	return writeResource(w, http.StatusCreated, pe, version)
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
func (h *Handler) updateEndpoint(w http.ResponseWriter, r *http.Request, cur PrivateEndpoint, version int64) error {
	var in PrivateEndpoint
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Properties.Subnet != nil && !strings.EqualFold(in.Properties.Subnet.ID, cur.Properties.Subnet.ID) {
		return badRequest("InvalidParameter", "the subnet of an existing private endpoint cannot change; delete and re-create it")
	}
	cur.Tags = in.Tags
	cur.Etag = ""
	version, err := h.save(r.Context(), cur.ID, typePE, cur, version)
	if err != nil {
		return err
	}
	if err := h.fillEndpoint(r.Context(), &cur); err != nil {
		return err
	}
	return writeResource(w, http.StatusOK, cur, version)
}

// endpointSubnet loads the subnet a private endpoint is created in and its
// virtual network's space; the caller needs the right to join it.
func (h *Handler) endpointSubnet(ctx context.Context, raw string) (Subnet, netip.Prefix, error) {
	var s Subnet
	subnetID, ok := linkedID(raw, "Microsoft.Network", "virtualNetworks", "subnets")
	if !ok {
		return s, netip.Prefix{}, badRequest("InvalidParameter", "subnet %q is not a subnet resource ID", raw)
	}
	if err := h.requireLinked(ctx, "properties.subnet.id", subnetID, rbac.ActionJoinSubnet); err != nil {
		return s, netip.Prefix{}, err
	}
	_, ok, err := h.load(ctx, subnetID, &s)
	if err != nil {
		return s, netip.Prefix{}, err
	}
	if !ok {
		return s, netip.Prefix{}, badRequest("InvalidResourceReference", "subnet %s does not exist; create it with 'moat network vnet subnet create'", subnetID)
	}
	p, err := subnetPrefix(s)
	return s, p, err
}

// endpointTarget checks the registry a private endpoint connects to and
// returns its ID. Anyone who may create the endpoint may ask for a
// connection (the registry's owner approves it); a caller who may not read
// the registry learns only whether it accepts one, not why not.
func (h *Handler) endpointTarget(ctx context.Context, conn *PLSConnection) (string, error) {
	target := conn.Properties.PrivateLinkServiceID
	linked, ok := linkedID(target, "Microsoft.ContainerRegistry", "registries")
	if !ok {
		return "", badRequest("InvalidParameter", "privateLinkServiceId %q is not a registry resource ID", target)
	}
	if len(conn.Properties.GroupIDs) != 1 || !strings.EqualFold(conn.Properties.GroupIDs[0], "registry") {
		return "", badRequest("InvalidParameter", "group IDs %v are invalid: a registry's private link resource is 'registry' (--group-id registry)", conn.Properties.GroupIDs)
	}
	id, err := h.connectable(ctx, linked)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusBadRequest && !h.may(ctx, linked, registryType+"/read") {
		return "", badRequest("PrivateEndpointConnectionNotPossible",
			"registry %s does not exist or does not accept private endpoint connections; its owner can tell you which (a Premium registry without virtual-network rules accepts up to %d)", target, h.Limits.PrivateEndpoints)
	}
	return id, err
}

// connectable returns the ID of the registry at linked if it accepts a new
// private endpoint connection.
func (h *Handler) connectable(ctx context.Context, linked string) (string, error) {
	rid, _ := resid.Parse(linked)
	target := linked
	if !strings.EqualFold(rid.Subscription, h.Subscription) {
		return "", badRequest("InvalidResourceReference", "registry %s does not exist", target)
	}
	reg, err := h.getRegistry(ctx, rid.ResourceGroup, rid.Name())
	if err != nil {
		return "", badRequest("InvalidResourceReference", "registry %s does not exist", target)
	}
	id := registryIDOf(reg)
	if reg.SKU != "Premium" {
		return "", badRequest("PrivateEndpointNotSupported", "private endpoints are not supported for the SKU %s; use Premium (moat acr update --name %s --sku Premium)", reg.SKU, reg.Name)
	}
	props, err := decodeProps(reg)
	if err != nil {
		return "", err
	}
	if n := len(props.NetworkRuleSet.VirtualNetworkRules); n > 0 {
		return "", badRequest("NetworkRuleValidationError",
			"a registry cannot use private endpoints and virtual-network (service endpoint) rules at the same time: registry %s has %d virtual-network rule(s); remove them first", reg.Name, n)
	}
	pecs, err := h.registryConnections(ctx, id)
	if err != nil {
		return "", err
	}
	if len(pecs) >= h.Limits.PrivateEndpoints {
		return "", badRequest("PrivateEndpointQuotaExceeded", "the number of private endpoints exceeds allowed quota %d for the SKU Premium", h.Limits.PrivateEndpoints)
	}
	return id, nil
}

// endpointIP returns the requested private IP after checking it, or allocates
// the first free one. The first four addresses of a subnet and its last
// (IPv4 broadcast) are reserved, as in the cloud.
func (h *Handler) endpointIP(ctx context.Context, in PrivateEndpoint, subnet Subnet, p netip.Prefix) (netip.Addr, error) {
	vid := subnet.ID[:strings.LastIndex(strings.ToLower(subnet.ID), "/subnets/")]
	pes, err := h.endpointsInVNet(ctx, vid)
	if err != nil {
		return netip.Addr{}, err
	}
	used := map[netip.Addr]bool{}
	for _, pe := range pes {
		for _, c := range pe.Properties.IPConfigurations {
			if a, err := netip.ParseAddr(c.Properties.PrivateIPAddress); err == nil {
				used[a] = true
			}
		}
	}
	first := p.Addr().Next().Next().Next().Next()
	last := lastAddr(p)
	usable := func(a netip.Addr) bool { return p.Contains(a) && a.Compare(first) >= 0 && a.Compare(last) < 0 }
	if cfg := in.Properties.IPConfigurations; len(cfg) > 0 && cfg[0].Properties.PrivateIPAddress != "" {
		a, err := netip.ParseAddr(cfg[0].Properties.PrivateIPAddress)
		if err != nil || !usable(a) {
			return a, badRequest("InvalidPrivateIPAddress", "private IP %q is not a usable address of subnet %s (%s; the first four and the last address are reserved)", cfg[0].Properties.PrivateIPAddress, subnet.Name, p)
		}
		if used[a] {
			return a, badRequest("PrivateIPAddressInUse", "private IP %s is already used by another private endpoint in this virtual network", a)
		}
		return a, nil
	}
	for a := first; usable(a); a = a.Next() {
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, badRequest("SubnetIsFull", "subnet %s (%s) has no free address for a private endpoint", subnet.Name, p)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		bitsBefore := i * 8
		switch {
		case bitsBefore >= p.Bits():
			b[i] = 0xff
		case bitsBefore+8 > p.Bits():
			b[i] |= 0xff >> (p.Bits() - bitsBefore)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
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
