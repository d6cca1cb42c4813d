package netguard

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

// slowAppends holds every AppendAudit until release is closed, and says
// when the first one started.
type slowAppends struct {
	meta.AuditTrail
	started chan struct{}
	release chan struct{}
}

func (s *slowAppends) AppendAudit(ctx context.Context, recs []*meta.AuditRecord) error {
	select {
	case s.started <- struct{}{}:
	default:
	}
	<-s.release
	return s.AuditTrail.AppendAudit(ctx, recs)
}

// TestListSeesARunningFlush: a query right after the denials sees them even
// while the periodic flush is still writing them (issue 15 item 11: the
// query's own flush found nothing pending and read the store too early).
func TestListSeesARunningFlush(t *testing.T) {
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	store := &slowAppends{AuditTrail: m, started: make(chan struct{}, 1), release: make(chan struct{})}
	a := NewDenialLog(store, nil)
	id := netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("203.0.113.5")}
	a.Denied("flushreg", id, policy.Decision{Reason: policy.ReasonNoMatchingRule}, "GET manifest", time.Now())

	periodic := make(chan error, 1)
	go func() { periodic <- a.Flush(context.Background()) }()
	<-store.started // the periodic flush holds the batch and is writing it
	listed := make(chan []Denial, 1)
	go func() {
		ds, err := a.List(context.Background(), "flushreg", time.Time{})
		if err != nil {
			t.Error(err)
		}
		listed <- ds
	}()
	time.AfterFunc(100*time.Millisecond, func() { close(store.release) })
	if ds := <-listed; len(ds) != 1 || ds[0].Count != 1 {
		t.Fatalf("List right after the denial: %+v, want the one record", ds)
	}
	if err := <-periodic; err != nil {
		t.Fatal(err)
	}
}

// failingAppends fails the first n writes.
type failingAppends struct {
	meta.AuditTrail
	n int
}

func (f *failingAppends) AppendAudit(ctx context.Context, recs []*meta.AuditRecord) error {
	if f.n > 0 {
		f.n--
		return errors.New("database is locked")
	}
	return f.AuditTrail.AppendAudit(ctx, recs)
}

// TestFailedFlushIsRetried: a record whose write failed is written by the
// next flush, counted once, with what was recorded meanwhile.
func TestFailedFlushIsRetried(t *testing.T) {
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := NewDenialLog(&failingAppends{AuditTrail: m, n: 1}, nil)
	id := netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("203.0.113.5")}
	deny := policy.Decision{Reason: policy.ReasonNoMatchingRule}
	now := time.Now()
	a.Denied("retryreg", id, deny, "GET manifest", now)
	if err := a.Flush(context.Background()); err == nil {
		t.Fatal("the failed write was not reported")
	}
	a.Denied("retryreg", id, deny, "GET manifest", now)
	ds, err := a.List(context.Background(), "retryreg", time.Time{})
	if err != nil || len(ds) != 1 || ds[0].Count != 2 {
		t.Fatalf("after a failed flush: %+v %v, want one record of 2", ds, err)
	}
}

// TestFlushesMergeInTheStore: the records of one source and minute that
// several flushes (or nodes) write are one row of the audit table, its
// count the sum and its first time the earliest.
func TestFlushesMergeInTheStore(t *testing.T) {
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a, b := NewDenialLog(m, nil), NewDenialLog(m, nil) // two nodes
	id := netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("203.0.113.5")}
	deny := policy.Decision{Reason: policy.ReasonNoMatchingRule}
	minute := time.Now().UTC().Truncate(time.Minute)
	a.Denied("mergereg", id, deny, "GET manifest", minute.Add(time.Second))
	b.Denied("mergereg", id, deny, "GET manifest", minute.Add(3*time.Second))
	a.Denied("mergereg", id, deny, "GET manifest", minute.Add(2*time.Second))
	for _, l := range []*DenialLog{a, b} {
		if err := l.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := m.ListAudit(context.Background(), meta.AuditQuery{Registry: "mergereg", Limit: 10})
	if err != nil || len(recs) != 1 || recs[0].Type != RecordType || recs[0].Count != 3 {
		t.Fatalf("rows: %v %+v", err, recs)
	}
	ds, err := a.List(context.Background(), "mergereg", time.Time{})
	if err != nil || len(ds) != 1 || ds[0].Count != 3 || !ds[0].FirstSeen.Equal(minute.Add(time.Second)) || !ds[0].LastSeen.Equal(minute.Add(3*time.Second)) {
		t.Fatalf("denials: %v %+v", err, ds)
	}
}
