package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
)

// BenchmarkList is the audit API's cost per page (100 events, from the
// middle of the trail, decoded) on a registry with 1,000 and with 100,000
// events in SQLite: keyset pages make both cost the same, in time and in
// memory (compare ns/op and B/op); the whole trail is never loaded.
func BenchmarkList(b *testing.B) {
	for _, size := range []int{1000, 100_000} {
		store := openStore(b)
		l := New(store, nil, Options{})
		start := time.Now().Add(-time.Duration(size) * time.Millisecond)
		batch := make([]*meta.AuditRecord, 0, 1000)
		for i := range size {
			e := Event{Time: start.Add(time.Duration(i) * time.Millisecond), Registry: "r1", Type: TypePull, Outcome: Success,
				Principal: "p1", ClientIP: "20.1.2.3", Repository: "app", Reference: fmt.Sprint("v", i)}
			if batch = append(batch, record(&e, "")); len(batch) == cap(batch) || i == size-1 {
				if err := store.AppendAudit(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		mid := FormatCursor(start, meta.AuditCursor{Time: start.Add(time.Duration(size/2) * time.Millisecond), Seq: 1 << 62})
		b.Run(fmt.Sprintf("rows=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := l.List(context.Background(), Query{Registry: "r1", Top: 100, After: mid})
				if err != nil || len(p.Events) != 100 || p.Next == "" {
					b.Fatalf("page: %d events, %v", len(p.Events), err)
				}
			}
		})
	}
}
