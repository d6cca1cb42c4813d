// Package regindex is the registries' data-plane view: one immutable
// snapshot of every registry (its stored record, its properties decoded once
// into typed values, its compiled network rules, its login server) and of the
// virtual networks' topology (private endpoint addresses, subnets with the
// registry service endpoint), with the server's addressing. A request reads
// one snapshot from start to end without a lock or a database query; a change
// builds a new snapshot and swaps it in (Reload after every management write
// and on every change notice, see internal/server/follow.go).
package regindex

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Store is what the snapshot is built from.
type Store interface {
	ListRegistries(ctx context.Context) ([]*meta.Registry, error)
	ListResources(ctx context.Context, typ, prefix string) ([]*meta.Resource, error)
}

// Snapshot is one immutable view. Nothing reachable from it may be modified.
type Snapshot struct {
	// Addressing is the server's addressing when the snapshot was built.
	Addressing addressing.Addressing
	byKey      map[string]*Registry
	sorted     []*Registry
	topo       topology
}

// Index holds the current snapshot.
type Index struct {
	store  Store
	snap   atomic.Pointer[Snapshot]
	reload sync.Mutex // one rebuild at a time
	named  atomic.Pointer[map[string][]netip.Prefix]
}

// SetIPSets sets the operator's named IP sets (lower-cased names, NamedSets)
// that IP rules may name; the next Reload compiles with them.
func (i *Index) SetIPSets(named map[string][]netip.Prefix) { i.named.Store(&named) }

// New loads the first snapshot from store, with path-style addressing until
// SetAddressing says otherwise.
func New(ctx context.Context, store Store) (*Index, error) {
	i := &Index{store: store}
	i.snap.Store(&Snapshot{byKey: map[string]*Registry{}, topo: emptyTopology()})
	return i, i.Reload(ctx)
}

// Load returns the current snapshot: a request takes one and keeps it.
func (i *Index) Load() *Snapshot { return i.snap.Load() }

// Reload replaces the snapshot with one built from the store's current state.
func (i *Index) Reload(ctx context.Context) error {
	i.reload.Lock()
	defer i.reload.Unlock()
	// Four independent reads, at once: a change reaches the other nodes
	// after the slowest of them, not after their sum.
	var (
		approved               map[string][]string
		regs                   []*meta.Registry
		topo                   topology
		groups                 map[string][]netip.Prefix
		errA, errR, errT, errG error
		wg                     sync.WaitGroup
	)
	wg.Add(3)
	go func() { defer wg.Done(); approved, errA = approvedEndpoints(ctx, i.store) }()
	go func() { defer wg.Done(); topo, errT = loadTopology(ctx, i.store) }()
	go func() { defer wg.Done(); groups, errG = loadIPGroups(ctx, i.store) }()
	regs, errR = i.store.ListRegistries(ctx)
	wg.Wait()
	if err := errors.Join(errR, errA, errT, errG); err != nil {
		return err
	}
	sets := ipSets{groups: groups}
	if n := i.named.Load(); n != nil {
		sets.named = *n
	}
	a := i.snap.Load().Addressing
	s := &Snapshot{Addressing: a, byKey: make(map[string]*Registry, len(regs)), sorted: make([]*Registry, 0, len(regs)), topo: topo}
	for _, m := range regs { // sorted by key
		r := build(m, approved[m.Key], a, sets)
		s.byKey[m.Key], s.sorted = r, append(s.sorted, r)
	}
	i.snap.Store(s)
	return nil
}

// SetAddressing swaps in a snapshot with the given addressing (the public
// listener's port is known once it is bound, and may change on reload).
func (i *Index) SetAddressing(a addressing.Addressing) {
	i.reload.Lock()
	defer i.reload.Unlock()
	old := i.snap.Load()
	s := &Snapshot{Addressing: a, byKey: make(map[string]*Registry, len(old.sorted)), sorted: make([]*Registry, 0, len(old.sorted)), topo: old.topo}
	for _, r := range old.sorted {
		c := *r
		c.LoginServer = a.LoginServer(r.Key)
		s.byKey[r.Key], s.sorted = &c, append(s.sorted, &c)
	}
	i.snap.Store(s)
}

// Lookup finds a registry by its lower-cased name.
func (s *Snapshot) Lookup(key string) (*Registry, bool) {
	r, ok := s.byKey[key]
	return r, ok
}

// LookupName finds a registry by a name in any case.
func (s *Snapshot) LookupName(name string) (*Registry, bool) {
	return s.Lookup(strings.ToLower(name))
}

// All returns every registry sorted by key.
func (s *Snapshot) All() []*Registry { return s.sorted }

// Lookup finds a registry in the current snapshot.
func (i *Index) Lookup(key string) (*Registry, bool) { return i.Load().Lookup(key) }

// Rules returns a registry's network rules; a registry not in the snapshot
// (being created) gets DenyAll, failing closed.
func (i *Index) Rules(key string) *policy.Rules {
	if r, ok := i.Lookup(key); ok {
		return r.Rules
	}
	return policy.DenyAll
}

// HasServiceEndpoint reports whether a subnet has the
// Microsoft.ContainerRegistry service endpoint (what-if needs it).
func (i *Index) HasServiceEndpoint(subnetID string) bool {
	return i.Load().topo.endpointSubnets[strings.ToLower(subnetID)]
}

// PrivateEndpointAt implements netid.Topology.
func (i *Index) PrivateEndpointAt(vnet string, ip netip.Addr) (string, bool) {
	return i.Load().topo.privateEndpointAt(vnet, ip)
}

// ServiceEndpointSubnet implements netid.Topology.
func (i *Index) ServiceEndpointSubnet(vnet string, ip netip.Addr) (string, bool) {
	return i.Load().topo.serviceEndpointSubnet(vnet, ip)
}
