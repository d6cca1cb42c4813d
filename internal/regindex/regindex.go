// Package regindex keeps an immutable in-memory snapshot of all registries so
// that the data plane finds a request's registry without a database query.
// Writers reload the snapshot after a change; readers never lock.
package regindex

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/moat-registry/moat/internal/meta"
)

type snapshot struct {
	byKey  map[string]*meta.Registry
	sorted []*meta.Registry
}

// Index is the registry snapshot.
type Index struct {
	store  meta.Registries
	snap   atomic.Pointer[snapshot]
	reload sync.Mutex
}

// New loads the snapshot from store.
func New(ctx context.Context, store meta.Registries) (*Index, error) {
	i := &Index{store: store}
	return i, i.Reload(ctx)
}

// Reload replaces the snapshot with the store's current registries.
func (i *Index) Reload(ctx context.Context) error {
	i.reload.Lock()
	defer i.reload.Unlock()
	regs, err := i.store.ListRegistries(ctx)
	if err != nil {
		return err
	}
	s := &snapshot{byKey: make(map[string]*meta.Registry, len(regs)), sorted: regs}
	for _, r := range regs {
		s.byKey[r.Key] = r
	}
	i.snap.Store(s)
	return nil
}

// Lookup finds a registry by its lower-cased name. The result must not be modified.
func (i *Index) Lookup(key string) (*meta.Registry, bool) {
	r, ok := i.snap.Load().byKey[key]
	return r, ok
}

// All returns every registry sorted by key. The result must not be modified.
func (i *Index) All() []*meta.Registry { return i.snap.Load().sorted }
