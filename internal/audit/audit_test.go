package audit

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/meta/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBufferDropsPruneAndQuery(t *testing.T) {
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	l := New(store, prometheus.NewRegistry(), Options{Buffer: 2, Retention: time.Hour})
	// Without a writer the buffer fills and the rest is dropped, never blocking.
	for range 5 {
		l.Record(Event{Registry: "r1", Type: TypePull, Outcome: Success})
	}
	if got := testutil.ToFloat64(l.dropped); got != 3 {
		t.Fatalf("dropped %v, want 3", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, time.Hour); close(done) }()
	for !l.running.Load() {
		time.Sleep(time.Millisecond)
	}
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	l.Record(Event{Registry: "r1", Type: TypeConfig, Outcome: Success, Time: time.Now().Add(-2 * time.Hour)})
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	l.Record(Event{Registry: "r2", Type: TypePush, Outcome: Success})
	evs, err := l.List(ctx, "r1", time.Now().Add(-3*time.Hour), "")
	if err != nil || len(evs) != 3 || evs[2].Type != TypeConfig {
		t.Fatalf("r1 events: %v %+v", err, evs)
	}
	if evs, _ := l.List(ctx, "r1", time.Now().Add(-time.Minute), TypePull); len(evs) != 2 {
		t.Fatalf("r1 pulls: %+v", evs)
	}
	if n, err := l.Prune(ctx, time.Now()); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if evs, _ := l.List(ctx, "r1", time.Time{}, TypeConfig); len(evs) != 0 {
		t.Fatalf("expired event kept: %+v", evs)
	}
	cancel()
	<-done
}
