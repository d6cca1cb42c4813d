package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func openStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	store, err := sqlite.Open(filepath.Join(tb.TempDir(), "meta.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	return store
}

// run starts the log's writer until the test ends.
func run(t *testing.T, l *Log) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, time.Hour); close(done) }()
	for !l.running.Load() {
		time.Sleep(time.Millisecond)
	}
	t.Cleanup(func() { cancel(); <-done })
}

func all(t *testing.T, l *Log, q Query) []Event {
	t.Helper()
	var out []Event
	for {
		p, err := l.List(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Events...)
		if p.Next == "" {
			return out
		}
		q.After = p.Next
	}
}

// fromClient is a request context whose source is a client address.
type srcKey struct{}

func fromClient(ip string) context.Context {
	return context.WithValue(context.Background(), srcKey{}, ip)
}

func sourceOf(ctx context.Context) Source {
	ip, _ := ctx.Value(srcKey{}).(string)
	return Source{ClientIP: ip, NetworkPath: "public", RequestID: "req-" + ip}
}

func TestBufferDropsPruneAndQuery(t *testing.T) {
	l := New(openStore(t), prometheus.NewRegistry(), Options{Buffer: 2, Retention: time.Hour})
	ctx := context.Background()
	// Without a writer the buffer fills and the rest is dropped, never blocking.
	for range 5 {
		l.Record(ctx, Event{Registry: "r1", Type: TypePull, Outcome: Success, Principal: "p1"})
	}
	if got := testutil.ToFloat64(l.dropped); got != 3 {
		t.Fatalf("dropped %v, want 3", got)
	}
	run(t, l)
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	l.Record(ctx, Event{Registry: "r1", Type: TypeConfig, Outcome: Success, Time: time.Now().Add(-2 * time.Hour)})
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	l.Record(ctx, Event{Registry: "r2", Type: TypePush, Outcome: Success})
	evs := all(t, l, Query{Registry: "r1", Since: time.Now().Add(-3 * time.Hour)})
	if len(evs) != 3 || evs[2].Type != TypeConfig {
		t.Fatalf("r1 events: %+v", evs)
	}
	if evs := all(t, l, Query{Registry: "r1", Since: time.Now().Add(-time.Minute), Type: TypePull}); len(evs) != 2 {
		t.Fatalf("r1 pulls: %+v", evs)
	}
	if n, err := l.Prune(ctx, time.Now()); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if evs := all(t, l, Query{Registry: "r1", Type: TypeConfig}); len(evs) != 0 {
		t.Fatalf("expired event kept: %+v", evs)
	}
}

// TestRecordCompletes: Record fills in the time, the registry's UID, the
// request's source and the principal's name.
func TestRecordCompletes(t *testing.T) {
	l := New(openStore(t), nil, Options{Source: sourceOf,
		RegistryID:    func(key string) string { return "uid-" + key },
		PrincipalName: func(id string) string { return "name-" + id }})
	l.Record(fromClient("20.1.2.3"), Event{Registry: "r1", Type: TypePush, Outcome: Success, Principal: "p1"})
	evs := all(t, l, Query{Registry: "r1"})
	if len(evs) != 1 {
		t.Fatalf("events: %+v", evs)
	}
	e := evs[0]
	if e.RegistryID != "uid-r1" || e.ClientIP != "20.1.2.3" || e.NetworkPath != "public" || e.RequestID != "req-20.1.2.3" ||
		e.PrincipalName != "name-p1" || time.Since(e.Time) > time.Minute || e.Count != 0 || e.FirstSeen != nil {
		t.Fatalf("event: %+v", e)
	}
}

// TestAnonymousFloodIsAggregated: a flood of anonymous requests' events from
// a few addresses is a few records with their counts; events that say who
// they are each get a record; system events (no client) are never
// aggregated.
func TestAnonymousFloodIsAggregated(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := New(openStore(t), reg, Options{Source: sourceOf})
	run(t, l)
	const n = 100_000
	for i := range n {
		ip := fmt.Sprintf("20.0.0.%d", i%4)
		l.Record(fromClient(ip), Event{Registry: "r1", Type: TypeToken, Outcome: Success, Grant: "anonymous",
			Scopes: []string{"repository:r1/app:pull"}})
	}
	l.Record(fromClient("20.0.0.9"), Event{Registry: "r1", Type: TypePull, Outcome: Success, Principal: "p1"})
	l.Record(context.Background(), Event{Registry: "r1", Type: TypeGC, Outcome: Success})
	evs := all(t, l, Query{Registry: "r1"})
	var tokens, total int64
	for _, e := range evs {
		if e.Type == TypeToken {
			tokens++
			total += e.Count
			if e.FirstSeen == nil || e.FirstSeen.After(e.Time) || e.RequestID != "" || e.Grant != "anonymous" {
				t.Errorf("aggregate: %+v", e)
			}
		}
	}
	// Four addresses, one or two minutes (the flood may cross a minute).
	if tokens < 4 || tokens > 8 || total != n || len(evs) != int(tokens)+2 {
		t.Fatalf("%d token records counting %d events, %d records in all; want 4 to 8 counting %d, and the pull and gc records", tokens, total, len(evs), n)
	}
	if got := testutil.ToFloat64(l.aggregated); got != n {
		t.Fatalf("aggregated counter %v, want %d", got, n)
	}
}

// TestKindsPerSourceAreBounded: an anonymous client that varies its
// requests makes new aggregates only up to its rate; the rest share one.
func TestKindsPerSourceAreBounded(t *testing.T) {
	l := New(openStore(t), nil, Options{Source: sourceOf, SourceRate: 10, SourceBurst: 10})
	for i := range 1000 {
		l.Record(fromClient("20.0.0.1"), Event{Registry: "r1", Type: TypePull, Outcome: Success, Repository: fmt.Sprint("repo", i)})
	}
	evs := all(t, l, Query{Registry: "r1"})
	var total int64
	for _, e := range evs {
		total += e.Count
	}
	// Ten kinds, maybe one more refilled meanwhile, and the shared record.
	if len(evs) < 11 || len(evs) > 12 || total != 1000 {
		t.Fatalf("%d records counting %d events: %+v", len(evs), total, evs[0])
	}
}

// TestSourceRate: events that say who they are are limited per client
// address: what is over the rate is counted into one aggregate of the
// address (with the principal: it signed in), not written one by one.
func TestSourceRate(t *testing.T) {
	l := New(openStore(t), prometheus.NewRegistry(), Options{Source: sourceOf, SourceRate: 5, SourceBurst: 5})
	for range 20 {
		l.Record(fromClient("20.0.0.1"), Event{Registry: "r1", Type: TypePush, Outcome: Success, Principal: "p1"})
		l.Record(fromClient("20.0.0.2"), Event{Registry: "r1", Type: TypePush, Outcome: Success, Principal: "p2"})
	}
	l.Record(context.Background(), Event{Registry: "r1", Type: TypeGC, Outcome: Success})
	evs := all(t, l, Query{Registry: "r1"})
	var singles, aggregates, counted int64
	for _, e := range evs {
		switch {
		case e.Type == TypeGC:
		case e.Count == 0:
			singles++
		default:
			aggregates++
			counted += e.Count
			if e.Principal == "" || e.Detail == "" {
				t.Errorf("aggregate over the rate: %+v", e)
			}
		}
	}
	// 5 (or 6, refilled meanwhile) single events and one aggregate an address.
	if singles < 10 || singles > 12 || aggregates != 2 || singles+counted != 40 {
		t.Fatalf("%d single events, %d aggregates counting %d; want 10 to 12 and 2 counting the rest of 40", singles, aggregates, counted)
	}
	if got := testutil.ToFloat64(l.limited); int64(got) != counted {
		t.Fatalf("limited %v, want %d", got, counted)
	}
}

// TestPagesKeepTheirRange: a page token keeps the first page's time range,
// so events written after it do not shift the pages that follow.
func TestPagesKeepTheirRange(t *testing.T) {
	l := New(openStore(t), nil, Options{})
	ctx := context.Background()
	now := time.Now()
	for i := range 10 {
		l.Record(ctx, Event{Registry: "r1", Type: TypePush, Outcome: Success, Time: now.Add(-time.Duration(i) * time.Minute), Detail: fmt.Sprint(i)})
	}
	p, err := l.List(ctx, Query{Registry: "r1", Since: now.Add(-5*time.Minute - time.Second), Top: 4})
	if err != nil || len(p.Events) != 4 || p.Next == "" {
		t.Fatalf("first page: %+v %v", p, err)
	}
	l.Record(ctx, Event{Registry: "r1", Type: TypePush, Outcome: Success, Detail: "new"})
	p, err = l.List(ctx, Query{Registry: "r1", Since: time.Time{}, Top: 4, After: p.Next})
	if err != nil || len(p.Events) != 2 || p.Events[0].Detail != "4" || p.Events[1].Detail != "5" || p.Next != "" {
		t.Fatalf("second page: %+v %v", p, err)
	}
	if _, err := l.List(ctx, Query{Registry: "r1", After: "not-a-token"}); err != ErrBadCursor {
		t.Fatalf("bad token: %v", err)
	}
}

func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{FormatCursor(time.Now(), meta.AuditCursor{Time: time.Now(), Seq: 42}), "", "1.2.3", "1.2", "a.b.c", "-1.2.3",
		"99999999999999999999.1.1", "1..3", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		since, c, err := ParseCursor(s)
		if err != nil {
			return
		}
		if back := FormatCursor(since, c); back != s && ParseCursorMust(t, back) != [3]int64{since.UnixNano(), c.Time.UnixNano(), c.Seq} {
			t.Fatalf("%q parsed, formatted as %q, which parses differently", s, back)
		}
		if c.Seq < 0 || since.UnixNano() < 0 || c.Time.UnixNano() < 0 {
			t.Fatalf("%q: negative parts", s)
		}
	})
}

func ParseCursorMust(t *testing.T, s string) [3]int64 {
	since, c, err := ParseCursor(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return [3]int64{since.UnixNano(), c.Time.UnixNano(), c.Seq}
}
