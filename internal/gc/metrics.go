package gc

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the collector's Prometheus counters; a nil *Metrics counts nothing.
type Metrics struct {
	runs                                    *prometheus.CounterVec
	manifests, links, blobs, bytes, uploads prometheus.Counter
	duration                                prometheus.Histogram
}

// NewMetrics registers the counters on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "moat_gc_runs_total",
			Help: "Garbage collection runs by outcome (ok, dry-run, failed)."}, []string{"outcome"}),
		manifests: c("moat_gc_deleted_manifests_total", "Untagged manifests deleted by garbage collection."),
		links:     c("moat_gc_removed_links_total", "Unreferenced blob links removed by garbage collection."),
		blobs:     c("moat_gc_deleted_blobs_total", "Blob files deleted by garbage collection."),
		bytes:     c("moat_gc_freed_bytes_total", "Bytes of blob files deleted by garbage collection."),
		uploads:   c("moat_gc_expired_uploads_total", "Idle upload sessions removed."),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "moat_gc_duration_seconds",
			Help: "Duration of garbage collection runs.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}),
	}
	reg.MustRegister(m.runs, m.manifests, m.links, m.blobs, m.bytes, m.uploads, m.duration)
	return m
}

func (m *Metrics) observe(r Result, err error, d time.Duration) {
	if m == nil {
		return
	}
	switch {
	case err != nil:
		m.runs.WithLabelValues("failed").Inc()
	case r.DryRun:
		m.runs.WithLabelValues("dry-run").Inc()
		m.duration.Observe(d.Seconds())
		return
	default:
		m.runs.WithLabelValues("ok").Inc()
	}
	m.duration.Observe(d.Seconds())
	m.manifests.Add(float64(r.ManifestsDeleted))
	m.links.Add(float64(r.LinksRemoved))
	m.blobs.Add(float64(r.BlobsDeleted))
	m.bytes.Add(float64(r.BytesFreed))
	m.uploads.Add(float64(r.UploadsExpired))
}
