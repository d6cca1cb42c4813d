package policy

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/resid"
)

// State is the network state the data plane decides on: every registry's
// compiled rules and every virtual network's topology (private endpoint
// addresses, subnets with the registry service endpoint). It is one immutable
// snapshot, rebuilt after each change and swapped in; readers never lock.
type State struct {
	store  Store
	snap   atomic.Pointer[snapshot]
	reload sync.Mutex
}

type snapshot struct {
	rules map[string]*Rules    // registry key -> rules
	vnets map[string]*vnetTopo // lower-cased virtual network ID -> topology
	// endpointSubnets are the lower-cased IDs of subnets with the registry service endpoint.
	endpointSubnets map[string]bool
}

// HasServiceEndpoint reports whether a subnet has the
// Microsoft.ContainerRegistry service endpoint (what-if needs it).
func (s *State) HasServiceEndpoint(subnetID string) bool {
	return s.snap.Load().endpointSubnets[strings.ToLower(subnetID)]
}

type vnetTopo struct {
	endpoints map[netip.Addr]string // private IP -> lower-cased private endpoint ID
	subnets   *prefixSet[string]    // prefixes of subnets with the endpoint -> lower-cased subnet ID
}

// Store is what the state is built from: the registries' network rules and
// the virtual networks and private endpoints.
type Store interface {
	ListRegistries(ctx context.Context) ([]*meta.Registry, error)
	ListResources(ctx context.Context, typ, prefix string) ([]*meta.Resource, error)
}

// NewState loads the state.
func NewState(ctx context.Context, store Store) (*State, error) {
	s := &State{store: store}
	return s, s.Reload(ctx)
}

// Rules returns a registry's rules; a registry without a snapshot entry (it
// is being created) gets DenyAll, failing closed.
func (s *State) Rules(regKey string) *Rules {
	if r, ok := s.snap.Load().rules[regKey]; ok {
		return r
	}
	return DenyAll
}

// PrivateEndpointAt implements netid.Topology.
func (s *State) PrivateEndpointAt(vnet string, ip netip.Addr) (string, bool) {
	t, ok := s.snap.Load().vnets[vnet]
	if !ok {
		return "", false
	}
	pe, ok := t.endpoints[ip.Unmap()]
	return pe, ok
}

// ServiceEndpointSubnet implements netid.Topology.
func (s *State) ServiceEndpointSubnet(vnet string, ip netip.Addr) (string, bool) {
	t, ok := s.snap.Load().vnets[vnet]
	if !ok {
		return "", false
	}
	return t.subnets.lookup(ip.Unmap())
}

// Reload rebuilds the snapshot from the store.
func (s *State) Reload(ctx context.Context) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	approved, err := s.approvedEndpoints(ctx)
	if err != nil {
		return err
	}
	regs, err := s.store.ListRegistries(ctx)
	if err != nil {
		return err
	}
	snap := &snapshot{rules: make(map[string]*Rules, len(regs)), vnets: map[string]*vnetTopo{}, endpointSubnets: map[string]bool{}}
	for _, reg := range regs {
		snap.rules[reg.Key] = Compile(reg.Properties, approved[reg.Key])
	}
	if err := s.loadTopology(ctx, snap); err != nil {
		return err
	}
	s.snap.Store(snap)
	return nil
}

// approvedEndpoints maps registry keys to the IDs of private endpoints with an Approved connection.
func (s *State) approvedEndpoints(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	pecs, err := s.store.ListResources(ctx, model.TypePEC, "")
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

func (s *State) topo(snap *snapshot, vnet string) *vnetTopo {
	t, ok := snap.vnets[vnet]
	if !ok {
		t = &vnetTopo{endpoints: map[netip.Addr]string{}, subnets: newPrefixSet[string]()}
		snap.vnets[vnet] = t
	}
	return t
}

// vnetOf returns the lower-cased virtual network ID of a subnet ID.
func vnetOf(subnetID string) (string, bool) {
	l := strings.ToLower(subnetID)
	i := strings.LastIndex(l, "/subnets/")
	return l[:max(i, 0)], i > 0
}

func (s *State) loadTopology(ctx context.Context, snap *snapshot) error {
	subnets, err := s.store.ListResources(ctx, model.TypeSubnet, "")
	if err != nil {
		return err
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
		s.topo(snap, vnet).subnets.add(p, strings.ToLower(r.ID))
		snap.endpointSubnets[strings.ToLower(r.ID)] = true
	}
	pes, err := s.store.ListResources(ctx, model.TypePE, "")
	if err != nil {
		return err
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
				s.topo(snap, vnet).endpoints[a.Unmap()] = strings.ToLower(r.ID)
			}
		}
	}
	return nil
}

func hasRegistryEndpoint(s model.Subnet) bool {
	for _, e := range s.Properties.ServiceEndpoints {
		if strings.EqualFold(e.Service, "Microsoft.ContainerRegistry") {
			return true
		}
	}
	return false
}
