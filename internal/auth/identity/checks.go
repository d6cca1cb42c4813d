package identity

import (
	"context"
	"errors"
	"runtime"
	"time"
)

// ErrBusy: every password check slot is taken and the queue is full (or the
// wait was too long); nothing was checked and the caller should answer
// "retry later" (503 with Retry-After).
var ErrBusy = errors.New("identity: too many password checks in progress")

// BusyRetryAfter is the Retry-After to answer ErrBusy with.
const BusyRetryAfter = time.Second

// Defaults of the password check bound: each argon2id check holds 19 MiB
// for its duration, so the slots bound the memory that sign-ins can use,
// whoever sends them (unknown user names cost a check too).
const (
	maxDefaultChecks = 2
	queuePerSlot     = 4
	maxCheckWait     = 2 * time.Second
)

// DefaultPasswordChecks is the number of concurrent password checks when the
// configuration sets none: GOMAXPROCS, at most 2.
func DefaultPasswordChecks() int { return min(runtime.GOMAXPROCS(0), maxDefaultChecks) }

// checkGate bounds concurrent password checks: slots run at once, a short
// queue waits for a slot (at most maxCheckWait), and anything beyond is
// refused at once with ErrBusy.
//
// Each check also leaves its 19 MiB behind as garbage, and a flood of checks
// allocates faster than the collector's pacing frees (measured: 11 checks
// through 2 slots raised the heap to 116 MB and resident memory to 240 MiB).
// So a check collects before it gives its slot up: the garbage of password
// checks never piles up. That is one collection per argon2id check (a few
// milliseconds on a small heap, against the check's tens), not per sign-in:
// remembered passwords and service principal secrets need no check.
type checkGate struct {
	slots   chan struct{} // one token per running check
	entered chan struct{} // one token per running or waiting check
}

func newCheckGate(slots int) *checkGate {
	slots = max(slots, 1)
	return &checkGate{slots: make(chan struct{}, slots), entered: make(chan struct{}, slots*(1+queuePerSlot))}
}

// run runs check in a slot, or returns ErrBusy without running it.
func (g *checkGate) run(ctx context.Context, check func()) error {
	select {
	case g.entered <- struct{}{}:
	default:
		return ErrBusy
	}
	defer func() { <-g.entered }()
	t := time.NewTimer(maxCheckWait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ErrBusy
	}
	defer func() { <-g.slots }()
	check()
	runtime.GC()
	return nil
}
