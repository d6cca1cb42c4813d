package promcache

import (
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type key struct {
	reg   string
	allow bool
}

func TestCacheCountsIntoTheVector(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "x"}, []string{"registry", "decision"})
	c := New(func(k key) prometheus.Counter {
		d := "deny"
		if k.allow {
			d = "allow"
		}
		return vec.WithLabelValues(k.reg, d)
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				c.Get(key{"r1", true}).Inc()
			}
		}()
	}
	wg.Wait()
	c.Get(key{"r1", false}).Inc()
	if got := testutil.ToFloat64(vec.WithLabelValues("r1", "allow")); got != 400 {
		t.Errorf("r1 allow = %v, want 400", got)
	}
	if got := testutil.ToFloat64(vec.WithLabelValues("r1", "deny")); got != 1 {
		t.Errorf("r1 deny = %v, want 1", got)
	}
	if a := testing.AllocsPerRun(100, func() { c.Get(key{"r1", true}).Inc() }); a != 0 {
		t.Errorf("a cached key: %v allocations, want 0", a)
	}
}
