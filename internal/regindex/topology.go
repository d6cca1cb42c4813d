package regindex

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"

	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netrule"
	"github.com/moat-registry/moat/internal/resid"
)

// topology is what virtual-network listeners need to know (netid.Topology).
type topology struct {
	vnets map[string]*vnetTopo // lower-cased virtual network ID -> topology
	// endpointSubnets are the lower-cased IDs of subnets with the registry service endpoint.
	endpointSubnets map[string]bool
}

type vnetTopo struct {
	endpoints map[netip.Addr]string      // private IP -> lower-cased private endpoint ID
	subnets   *netrule.PrefixSet[string] // prefixes of subnets with the endpoint -> lower-cased subnet ID
}

func emptyTopology() topology {
	return topology{vnets: map[string]*vnetTopo{}, endpointSubnets: map[string]bool{}}
}

func (t topology) privateEndpointAt(vnet string, ip netip.Addr) (string, bool) {
	v, ok := t.vnets[vnet]
	if !ok {
		return "", false
	}
	pe, ok := v.endpoints[ip.Unmap()]
	return pe, ok
}

func (t topology) serviceEndpointSubnet(vnet string, ip netip.Addr) (string, bool) {
	v, ok := t.vnets[vnet]
	if !ok {
		return "", false
	}
	return v.subnets.Lookup(ip.Unmap())
}

func (t topology) vnet(id string) *vnetTopo {
	v, ok := t.vnets[id]
	if !ok {
		v = &vnetTopo{endpoints: map[netip.Addr]string{}, subnets: netrule.NewPrefixSet[string]()}
		t.vnets[id] = v
	}
	return v
}

// approvedEndpoints maps registry keys to the IDs of private endpoints with an Approved connection.
func approvedEndpoints(ctx context.Context, store Store) (map[string][]string, error) {
	out := map[string][]string{}
	pecs, err := store.ListResources(ctx, model.TypePEC, "")
	if err != nil {
		return nil, err
	}
	for _, r := range pecs {
		var c model.PrivateEndpointConnection
		if json.Unmarshal(r.Body, &c) != nil || c.Properties.PrivateEndpoint == nil || c.Properties.PrivateLinkServiceConnectionState == nil {
			continue
		}
		if c.Properties.PrivateLinkServiceConnectionState.Status != model.StatusApproved {
			continue
		}
		id, err := resid.Parse(r.ID)
		if err != nil || len(id.Names) == 0 {
			continue
		}
		key := strings.ToLower(id.Names[0])
		out[key] = append(out[key], c.Properties.PrivateEndpoint.ID)
	}
	return out, nil
}

// vnetOf returns the lower-cased virtual network ID of a subnet ID.
func vnetOf(subnetID string) (string, bool) {
	l := strings.ToLower(subnetID)
	i := strings.LastIndex(l, "/subnets/")
	return l[:max(i, 0)], i > 0
}

func loadTopology(ctx context.Context, store Store) (topology, error) {
	t := emptyTopology()
	subnets, err := store.ListResources(ctx, model.TypeSubnet, "")
	if err != nil {
		return t, err
	}
	for _, r := range subnets {
		var sn model.Subnet
		if json.Unmarshal(r.Body, &sn) != nil || !hasRegistryEndpoint(sn) {
			continue
		}
		vnet, ok := vnetOf(r.ID)
		p, err := netip.ParsePrefix(sn.Properties.AddressPrefix)
		if !ok || err != nil {
			continue
		}
		t.vnet(vnet).subnets.Add(p, strings.ToLower(r.ID))
		t.endpointSubnets[strings.ToLower(r.ID)] = true
	}
	pes, err := store.ListResources(ctx, model.TypePE, "")
	if err != nil {
		return t, err
	}
	for _, r := range pes {
		var pe model.PrivateEndpoint
		if json.Unmarshal(r.Body, &pe) != nil || pe.Properties.Subnet == nil {
			continue
		}
		vnet, ok := vnetOf(pe.Properties.Subnet.ID)
		if !ok {
			continue
		}
		for _, c := range pe.Properties.IPConfigurations {
			if a, err := netip.ParseAddr(c.Properties.PrivateIPAddress); err == nil {
				t.vnet(vnet).endpoints[a.Unmap()] = strings.ToLower(r.ID)
			}
		}
	}
	return t, nil
}

func hasRegistryEndpoint(s model.Subnet) bool {
	for _, e := range s.Properties.ServiceEndpoints {
		if strings.EqualFold(e.Service, "Microsoft.ContainerRegistry") {
			return true
		}
	}
	return false
}
