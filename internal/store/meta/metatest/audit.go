package metatest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
)

func init() {
	auditTests = map[string]func(*testing.T, meta.Store){
		"AuditPages":     testAuditPages,
		"AuditAggregate": testAuditAggregate,
		"AuditFilters":   testAuditFilters,
		"AuditPrune":     testAuditPrune,
	}
}

var auditTests map[string]func(*testing.T, meta.Store)

// base is the time of the audit tests' records (whole seconds: both stores
// keep nanoseconds).
var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func rec(reg, typ string, at time.Time, body string) *meta.AuditRecord {
	return &meta.AuditRecord{Registry: reg, Type: typ, Time: at, Body: []byte(`{"b":"` + body + `"}`)}
}

// page reads a whole query page by page, n at a time, and returns the bodies.
func pages(t *testing.T, s meta.Store, q meta.AuditQuery, n int) []string {
	t.Helper()
	var out []string
	q.Limit = n
	for range 1000 {
		page, err := s.ListAudit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			out = append(out, string(r.Body))
		}
		if len(page) < n {
			return out
		}
		last := page[len(page)-1]
		q.After = &meta.AuditCursor{Time: last.Time, Seq: last.Seq}
	}
	t.Fatal("more than 1000 pages")
	return nil
}

// testAuditPages: pages are newest first, by time and then by write order,
// and continue exactly after their cursor, also among records of one time.
func testAuditPages(t *testing.T, s meta.Store) {
	var recs []*meta.AuditRecord
	for i := range 25 {
		// Five records at each of five times, written oldest first.
		recs = append(recs, rec("alpha1", "push", base.Add(time.Duration(i/5)*time.Second), fmt.Sprint(i)))
	}
	if err := s.AppendAudit(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 3, 5, 7, 25, 100} {
		got := pages(t, s, meta.AuditQuery{Registry: "alpha1"}, n)
		if len(got) != 25 {
			t.Fatalf("pages of %d: %d records", n, len(got))
		}
		for i, b := range got {
			if want := fmt.Sprintf(`{"b":"%d"}`, 24-i); b != want {
				t.Fatalf("pages of %d: record %d is %s, want %s", n, i, b, want)
			}
		}
	}
	page, err := s.ListAudit(ctx, meta.AuditQuery{Registry: "alpha1", Limit: 1})
	if err != nil || len(page) != 1 || !page[0].Time.Equal(base.Add(4*time.Second)) || page[0].Type != "push" ||
		page[0].Registry != "alpha1" || page[0].Count != 0 || page[0].Key != "" || page[0].Seq == 0 {
		t.Fatalf("newest: %+v %v", page, err)
	}
}

// testAuditAggregate: records with a key merge: counts add up, the first
// time is the earliest, the time the latest, the body the last written.
func testAuditAggregate(t *testing.T, s meta.Store) {
	agg := func(at time.Time, n int64, body string) *meta.AuditRecord {
		r := rec("alpha1", "token", at, body)
		r.Key, r.Count, r.First = "k1", n, at.Add(-time.Second)
		return r
	}
	if err := s.AppendAudit(ctx, []*meta.AuditRecord{agg(base.Add(10*time.Second), 5, "a")}); err != nil {
		t.Fatal(err)
	}
	// Two writers of the same aggregate: one older, one newer.
	if err := s.AppendAudit(ctx, []*meta.AuditRecord{agg(base.Add(5*time.Second), 2, "b"), agg(base.Add(20*time.Second), 3, "c"),
		rec("alpha1", "token", base, "single")}); err != nil {
		t.Fatal(err)
	}
	page, err := s.ListAudit(ctx, meta.AuditQuery{Registry: "alpha1", Limit: 10})
	if err != nil || len(page) != 2 {
		t.Fatalf("aggregate: %d records, %v", len(page), err)
	}
	a := page[0]
	if a.Count != 10 || !a.First.Equal(base.Add(4*time.Second)) || !a.Time.Equal(base.Add(20*time.Second)) || string(a.Body) != `{"b":"c"}` || a.Key != "k1" {
		t.Fatalf("aggregate: %+v (first %v, time %v)", a, a.First, a.Time)
	}
	if page[1].Count != 0 || page[1].Key != "" {
		t.Fatalf("single event: %+v", page[1])
	}
}

// testAuditFilters: a query sees its registry only, its type, its time
// range, and with a registry UID the records of that UID (and those
// without one since the registry's creation).
func testAuditFilters(t *testing.T, s meta.Store) {
	uid := func(r *meta.AuditRecord, id string) *meta.AuditRecord { r.RegistryID = id; return r }
	recs := []*meta.AuditRecord{
		rec("alpha1", "push", base, "old-no-uid"),
		uid(rec("alpha1", "push", base.Add(time.Minute), "other-uid"), "u-old"),
		rec("alpha1", "pull", base.Add(2*time.Minute), "no-uid"),
		uid(rec("alpha1", "push", base.Add(3*time.Minute), "mine"), "u-new"),
		uid(rec("alpha12", "push", base.Add(3*time.Minute), "other-registry"), "u-new"),
		rec("_server", "signin", base.Add(3*time.Minute), "server"),
	}
	if err := s.AppendAudit(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    meta.AuditQuery
		want []string
	}{
		{meta.AuditQuery{Registry: "alpha1"}, []string{"mine", "no-uid", "other-uid", "old-no-uid"}},
		{meta.AuditQuery{Registry: "alpha1", Type: "push"}, []string{"mine", "other-uid", "old-no-uid"}},
		{meta.AuditQuery{Registry: "alpha1", Since: base.Add(time.Minute)}, []string{"mine", "no-uid", "other-uid"}},
		{meta.AuditQuery{Registry: "alpha1", RegistryID: "u-new", Created: base.Add(30 * time.Second)}, []string{"mine", "no-uid"}},
		{meta.AuditQuery{Registry: "alpha1", RegistryID: "u-new", Created: base.Add(30 * time.Second), Type: "push"}, []string{"mine"}},
		{meta.AuditQuery{Registry: "_server"}, []string{"server"}},
		{meta.AuditQuery{Registry: "nobody"}, nil},
	} {
		got := pages(t, s, c.q, 2)
		if fmt.Sprint(got) != fmt.Sprint(bodies(c.want...)) {
			t.Errorf("%+v: %v, want %v", c.q, got, c.want)
		}
	}
}

func bodies(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, `{"b":"`+n+`"}`)
	}
	return out
}

// testAuditPrune: pruning deletes what is older than the cutoff, of one type
// or of all, at most limit per call.
func testAuditPrune(t *testing.T, s meta.Store) {
	var recs []*meta.AuditRecord
	for i := range 10 {
		recs = append(recs, rec("alpha1", "pull", base.Add(time.Duration(i)*time.Minute), fmt.Sprint("pull", i)))
		recs = append(recs, rec("alpha1", "denial", base.Add(time.Duration(i)*time.Minute), fmt.Sprint("denial", i)))
	}
	if err := s.AppendAudit(ctx, recs); err != nil {
		t.Fatal(err)
	}
	cutoff := base.Add(5 * time.Minute) // five of each type are older
	if n, err := s.PruneAudit(ctx, "denial", cutoff, 3); err != nil || n != 3 {
		t.Fatalf("prune denials, batch of 3: %d %v", n, err)
	}
	if n, err := s.PruneAudit(ctx, "denial", cutoff, 3); err != nil || n != 2 {
		t.Fatalf("prune denials, rest: %d %v", n, err)
	}
	if got := pages(t, s, meta.AuditQuery{Registry: "alpha1", Type: "pull"}, 100); len(got) != 10 {
		t.Fatalf("pulls after pruning denials: %d", len(got))
	}
	if n, err := s.PruneAudit(ctx, "", cutoff, 100); err != nil || n != 5 {
		t.Fatalf("prune all: %d %v", n, err)
	}
	if got := pages(t, s, meta.AuditQuery{Registry: "alpha1"}, 100); len(got) != 10 || got[8] != `{"b":"denial5"}` || got[9] != `{"b":"pull5"}` {
		t.Fatalf("after pruning: %v", got)
	}
}

// BenchmarkAuditPage measures one page (100 records, from the middle) of a
// registry's audit trail of 1,000 and of 100,000 records: keyset pages on an
// index should cost the same whatever the table's size, in time and in
// memory; compare ns/op and B/op.
func BenchmarkAuditPage(b *testing.B, newStore func(b *testing.B) meta.Store) {
	for _, size := range []int{1000, 100_000} {
		s := newStore(b)
		batch := make([]*meta.AuditRecord, 0, 1000)
		for i := range size {
			r := &meta.AuditRecord{Registry: "alpha1", Type: "pull", Time: base.Add(time.Duration(i) * time.Millisecond),
				Body: []byte(fmt.Sprintf(`{"type":"pull","repository":"app","reference":"v%d","clientIp":"20.1.2.3"}`, i))}
			if batch = append(batch, r); len(batch) == cap(batch) || i == size-1 {
				if err := s.AppendAudit(ctx, batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		mid := &meta.AuditCursor{Time: base.Add(time.Duration(size/2) * time.Millisecond), Seq: 1 << 62}
		for name, typ := range map[string]string{"all": "", "pull": "pull"} {
			q := meta.AuditQuery{Registry: "alpha1", Type: typ, After: mid, Limit: 100}
			b.Run(fmt.Sprintf("%s/rows=%d", name, size), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if page, err := s.ListAudit(ctx, q); err != nil || len(page) != 100 {
						b.Fatalf("page: %d records, %v", len(page), err)
					}
				}
			})
		}
	}
}

// LegacyAuditResources are resources (ID, type, body) as moat stored the
// audit trail before the audit_events table.
var LegacyAuditResources = [][3]string{
	{"/moat/auditEvents/alpha1/01748779200000000123-000007", "moat/auditEvents",
		`{"time":"2025-06-01T12:00:00.000000123Z","registry":"alpha1","type":"push","outcome":"success","registryId":"uid-1"}`},
	{"/moat/auditEvents/alpha1/01748779260000000000-000008", "moat/auditEvents",
		`{"time":"2025-06-01T12:01:00Z","registry":"alpha1","type":"pull","outcome":"success"}`},
	{"/moat/auditEvents/_server/01748779200000000000-000009", "moat/auditEvents",
		`{"time":"2025-06-01T12:00:00Z","registry":"_server","type":"signin","outcome":"failure"}`},
	{"/moat/networkDenials/alpha1/1748779200/0011223344556677", "moat/networkDenials",
		`{"registry":"alpha1","minute":"2025-06-01T12:00:00Z","clientIp":"20.1.2.3","path":"public","reason":"no-matching-rule","route":"GET manifest","count":7,"firstSeen":"2025-06-01T12:00:01.5Z","lastSeen":"2025-06-01T12:00:59Z"}`},
}

// CheckLegacyAudit checks that the LegacyAuditResources are in the audit
// trail, and no longer resources.
func CheckLegacyAudit(t *testing.T, s meta.Store) {
	t.Helper()
	ctx := context.Background()
	page, err := s.ListAudit(ctx, meta.AuditQuery{Registry: "alpha1", Limit: 10})
	if err != nil || len(page) != 3 {
		t.Fatalf("alpha1: %d records, %v", len(page), err)
	}
	pull, denial, push := page[0], page[1], page[2]
	if pull.Type != "pull" || !pull.Time.Equal(time.Date(2025, 6, 1, 12, 1, 0, 0, time.UTC)) || pull.RegistryID != "" || pull.Count != 0 {
		t.Errorf("pull: %+v", pull)
	}
	if push.Type != "push" || push.Time.UnixNano() != 1748779200000000123 || push.RegistryID != "uid-1" || push.Registry != "alpha1" ||
		string(push.Body) != LegacyAuditResources[0][2] {
		t.Errorf("push: %+v", push)
	}
	if denial.Type != "denial" || denial.Count != 7 || !denial.Time.Equal(time.Date(2025, 6, 1, 12, 0, 59, 0, time.UTC)) ||
		!denial.First.Equal(time.Date(2025, 6, 1, 12, 0, 1, 500_000_000, time.UTC)) ||
		denial.Key != "/moat/networkdenials/alpha1/1748779200/0011223344556677" {
		t.Errorf("denial: %+v (first %v)", denial, denial.First)
	}
	if page, err := s.ListAudit(ctx, meta.AuditQuery{Registry: "_server", Limit: 10}); err != nil || len(page) != 1 || page[0].Type != "signin" {
		t.Errorf("_server: %+v %v", page, err)
	}
	for _, typ := range []string{"moat/auditEvents", "moat/networkDenials"} {
		if rs, err := s.ListResources(ctx, typ, "/"); err != nil || len(rs) != 0 {
			t.Errorf("resources of type %s left: %d %v", typ, len(rs), err)
		}
	}
}
