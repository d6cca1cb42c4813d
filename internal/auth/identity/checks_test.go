package identity

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestCheckGateBounds: at most slots checks run at once, at most
// slots*(1+queuePerSlot) are admitted at all, and the rest get ErrBusy at
// once without running.
func TestCheckGateBounds(t *testing.T) {
	const slots, callers = 2, 50
	g := newCheckGate(slots)
	release := make(chan struct{})
	var running, peak, ran, busy atomic.Int32
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := g.run(context.Background(), func() {
				n := running.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				<-release
				running.Add(-1)
				ran.Add(1)
			})
			if errors.Is(err, ErrBusy) {
				busy.Add(1)
			}
		}()
	}
	// Everyone beyond the admitted ones is refused without waiting.
	admitted := int32(slots * (1 + queuePerSlot))
	for busy.Load() < callers-admitted {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if peak.Load() > slots || ran.Load() != admitted || busy.Load() != callers-admitted {
		t.Fatalf("peak %d running (max %d), %d ran (want %d), %d busy (want %d)", peak.Load(), slots, ran.Load(), admitted, busy.Load(), callers-admitted)
	}
}

// TestAuthenticateBusy: with every slot taken, a password check (also of an
// unknown user name) answers ErrBusy instead of queueing without bound,
// while a service principal's secret (a fast hash) is still checked.
func TestAuthenticateBusy(t *testing.T) {
	d := newDir(t)
	d.LimitPasswordChecks(1)
	ctx := context.Background()
	if err := d.Create(ctx, &Principal{Kind: KindServicePrincipal, Name: "app-busy", Secrets: []Secret{{ID: "s", Hash: HashSecret("sp-secret")}}}); err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	started := make(chan struct{})
	go d.checks.run(ctx, func() { close(started); <-hold })
	<-started
	for range queuePerSlot {
		go d.checks.run(ctx, func() {})
	}
	for len(d.checks.entered) < cap(d.checks.entered) {
		runtime.Gosched()
	}
	if _, err := d.Authenticate(ctx, KindUser, "nobody", "guess"); !errors.Is(err, ErrBusy) {
		t.Fatalf("unknown user with no slot: %v, want ErrBusy", err)
	}
	if _, err := d.Authenticate(ctx, KindServicePrincipal, "app-busy", "sp-secret"); err != nil {
		t.Fatalf("service principal while passwords are busy: %v", err)
	}
	close(hold)
}

// BenchmarkWrongPassword is the cost of a password check that fails (an
// argon2id check each time, and the collection the gate forces after it),
// with the checks running in parallel as a sign-in flood runs them.
func BenchmarkWrongPassword(b *testing.B) {
	d := newDir(b)
	ctx := context.Background()
	if err := d.Create(ctx, &Principal{Kind: KindUser, Name: "bench", Secrets: []Secret{{ID: "p", Hash: HashPassword("bench-password")}}}); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Authenticate(ctx, KindUser, "bench", "wrong"); !errors.Is(err, ErrBadCredentials) && !errors.Is(err, ErrBusy) {
				b.Fatal(err)
			}
		}
	})
}
