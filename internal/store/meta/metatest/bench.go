package metatest

import (
	"fmt"
	"testing"

	"github.com/moat-registry/moat/internal/store/meta"
)

// BenchmarkListTags measures one full page of a tag list (n=100; after a
// marker in the middle when there are more) in a repository of 100 and of
// 100,000 tags: the /v2/ tag list (ListTags), and ACR's tag list
// (ListTagProperties) by name and by time. Keyset pagination on indexed keys
// should make both sizes cost the same, in time and in memory; compare ns/op
// and B/op.
func BenchmarkListTags(b *testing.B, newStore func(b *testing.B) meta.Store) {
	for _, size := range []int{100, 100_000} {
		s := newStore(b)
		newRegistry(b, s, "alpha1")
		tags := make([]string, size)
		for i := range tags {
			tags[i] = fmt.Sprintf("t%07d", i)
		}
		// Pushed in batches, so that times differ across the repository.
		for i := 0; i < size; i += 1000 {
			if err := s.PutManifest(ctx, "alpha1", "app", manifest(tags[i]), tags[i:min(i+1000, size)]...); err != nil {
				b.Fatal(err)
			}
		}
		mid := meta.Page{N: 100}
		if size > 200 {
			t, err := s.TagProperties(ctx, "alpha1", "app", tags[size/2])
			if err != nil {
				b.Fatal(err)
			}
			mid.After, mid.AfterTime = t.Name, t.Updated
		}
		for _, c := range []struct {
			name string
			list func() (int, error)
		}{
			{"v2", func() (int, error) { p, err := s.ListTags(ctx, "alpha1", "app", mid.After, 100); return len(p), err }},
			{"acr-by-name", func() (int, error) {
				p, err := s.ListTagProperties(ctx, "alpha1", "app", mid)
				return len(p), err
			}},
			{"acr-by-time", func() (int, error) {
				p := mid
				p.Order = meta.ByTimeDesc
				page, err := s.ListTagProperties(ctx, "alpha1", "app", p)
				return len(page), err
			}},
		} {
			b.Run(fmt.Sprintf("%s/tags=%d", c.name, size), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if n, err := c.list(); err != nil || n != 100 {
						b.Fatalf("page: %d tags, %v", n, err)
					}
				}
			})
		}
	}
}
