package gc_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/gc"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

// BenchmarkPush measures pushes of a small image (config, two layers of 4
// KiB, manifest) through the HTTP API on SQLite, with no collector ("idle")
// and with collections running back to back ("collecting", default grace so
// that pushes are not retried): the cost collection imposes on pushes.
func BenchmarkPush(b *testing.B) {
	for _, collecting := range []bool{false, true} {
		name := map[bool]string{false: "idle", true: "collecting"}[collecting]
		b.Run(name, func(b *testing.B) {
			m, err := sqlite.Open(filepath.Join(b.TempDir(), "meta.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			e := newEnv(b, m, fsBlobs(b))
			e.gc.Grace = time.Hour
			stop := make(chan struct{})
			var wg sync.WaitGroup
			runs := 0
			if collecting {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := e.gc.Run(ctx, gc.Options{Wait: true, Uploads: true}); err != nil {
							b.Error(err)
							return
						}
						runs++
					}
				})
			}
			layer := make([]byte, 4096)
			b.ResetTimer()
			for i := range b.N {
				copy(layer, fmt.Sprint(i))
				img := newImage([]byte(fmt.Sprint(`{"i":`, i, `}`)), layer, append([]byte("second"), layer...))
				if err := e.push("app", fmt.Sprint("t", i%10), img); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			if collecting {
				b.ReportMetric(float64(runs)/float64(b.N), "gcruns/push")
			}
		})
	}
}
