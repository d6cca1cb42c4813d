package mgmt

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/resid"
)

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
