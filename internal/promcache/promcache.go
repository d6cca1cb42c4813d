// Package promcache keeps the series of Prometheus vectors by a comparable
// key. Labelling a vector (WithLabelValues) hashes and checks every label
// value on each call; on a manifest HEAD, answered in tens of microseconds,
// the request and network-decision counters paid about 4 % of the server's
// CPU for it (docs/benchmarks.md). A cache looks each key's series up once.
// Keys must be as bounded as the labels they stand for.
package promcache

import "sync"

// Cache maps keys to the series made for them by its function.
type Cache[K comparable, M any] struct {
	m    sync.Map // K → M
	make func(K) M
}

// New returns a cache whose series are made by mk (once per key, but mk
// must tolerate a second call racing the first: one result is kept).
func New[K comparable, M any](mk func(K) M) *Cache[K, M] {
	return &Cache[K, M]{make: mk}
}

// Get returns k's series.
func (c *Cache[K, M]) Get(k K) M {
	if m, ok := c.m.Load(k); ok {
		return m.(M)
	}
	m, _ := c.m.LoadOrStore(k, c.make(k))
	return m.(M)
}
