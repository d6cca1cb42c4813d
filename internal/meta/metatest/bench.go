package metatest

import (
	"fmt"
	"testing"

	"github.com/moat-registry/moat/internal/meta"
)

// BenchmarkListTags measures one full page of a tag list (n=100; after a
// marker in the middle when there are more) in a repository of 100 and of
// 100,000 tags. Keyset pagination
// on the (reg, repo, tag) key should make both cost the same; compare ns/op.
func BenchmarkListTags(b *testing.B, newStore func(b *testing.B) meta.Store) {
	for _, size := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("tags=%d", size), func(b *testing.B) {
			s := newStore(b)
			newRegistry(b, s, "alpha1")
			tags := make([]string, size)
			for i := range tags {
				tags[i] = fmt.Sprintf("t%07d", i)
			}
			if err := s.PutManifest(ctx, "alpha1", "app", manifest("x"), tags...); err != nil {
				b.Fatal(err)
			}
			last := ""
			if size > 200 {
				last = tags[size/2]
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				page, err := s.ListTags(ctx, "alpha1", "app", last, 100)
				if err != nil || len(page) != 100 {
					b.Fatalf("page: %d tags, %v", len(page), err)
				}
			}
		})
	}
}
