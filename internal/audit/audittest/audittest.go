// Package audittest is an audit.Recorder for the tests of the packages that
// record events.
package audittest

import (
	"context"
	"sync"

	"github.com/moat-registry/moat/internal/audit"
)

// Recorder keeps the events recorded, in order.
type Recorder struct {
	mu     sync.Mutex
	events []audit.Event
}

// Record keeps e.
func (r *Recorder) Record(_ context.Context, e audit.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// Take returns the events recorded since the last Take.
func (r *Recorder) Take() []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}
