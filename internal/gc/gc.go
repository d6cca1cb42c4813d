// Package gc is online garbage collection: untagged manifests and unreferenced
// blob links of the registries whose retention policy is enabled, then the
// blob files no registry links, and expired upload sessions. It runs while
// the registry serves; docs/gc.md gives the safety argument, which rests on
// the metadata store's guarantees (meta.GC) and on the OCI handler checking a
// blob's bytes after linking it.
package gc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/store/meta"
)

// RemovedMemory is how long the store remembers what a sweep removed, to
// refuse a manifest push that references it (meta.ErrReferenceRemoved): a
// client that checked a blob exists has this long to push its manifest.
const RemovedMemory = 24 * time.Hour

// Collector collects garbage. Only one collector runs at a time across all
// nodes sharing the metadata store (meta.GC.LockGC).
type Collector struct {
	Meta  MetaStore
	Blobs BlobStore
	// Grace: blob links and blob files younger than this, and untagged
	// manifests younger than this (whatever the policy's days), are kept.
	Grace time.Duration
	// UploadExpiry: upload sessions idle longer are removed (0: never).
	UploadExpiry time.Duration
	Metrics      *Metrics       // optional
	Audit        audit.Recorder // optional
}

// Result counts what a run deleted (or, in a dry run, would delete).
type Result struct {
	ManifestsDeleted int   `json:"manifestsDeleted"`
	LinksRemoved     int   `json:"linksRemoved"`
	BlobsDeleted     int   `json:"blobsDeleted"`
	BytesFreed       int64 `json:"bytesFreed"`
	UploadsExpired   int   `json:"uploadsExpired"`
	// RepositoriesSkipped changed while being collected; the next run takes them.
	RepositoriesSkipped int  `json:"repositoriesSkipped"`
	DryRun              bool `json:"dryRun"`
}

func (r *Result) add(o Result) {
	r.ManifestsDeleted += o.ManifestsDeleted
	r.LinksRemoved += o.LinksRemoved
	r.BlobsDeleted += o.BlobsDeleted
	r.BytesFreed += o.BytesFreed
	r.UploadsExpired += o.UploadsExpired
	r.RepositoriesSkipped += o.RepositoriesSkipped
}

// ErrBusy: another collector is running (Run with wait false).
var ErrBusy = errors.New("gc: another garbage collection is running")

// Options select what Run does.
type Options struct {
	// Registry limits the registry sweep to one registry key ("" = all).
	Registry string
	DryRun   bool
	// Wait for a running collector to finish instead of returning ErrBusy.
	Wait bool
	// Uploads also expires idle upload sessions.
	Uploads bool
}

// Run collects: the registries' manifests and links, then blob files no
// registry links (always all of them: blobs are shared), then uploads.
func (c *Collector) Run(ctx context.Context, o Options) (res Result, err error) {
	res.DryRun = o.DryRun
	unlock, ok, err := c.Meta.LockGC(ctx, o.Wait)
	if err != nil {
		return res, err
	}
	if !ok {
		return res, ErrBusy
	}
	defer unlock()
	start := time.Now()
	defer func() { c.Metrics.observe(res, err, time.Since(start)) }()
	if !o.DryRun {
		if err := c.Meta.ForgetRemoved(ctx, start.Add(-RemovedMemory)); err != nil {
			return res, err
		}
	}
	regs, err := c.registries(ctx, o.Registry)
	if err != nil {
		return res, err
	}
	for _, reg := range regs {
		r, err := c.registry(ctx, reg, start, o.DryRun)
		res.add(r)
		if err != nil {
			return res, fmt.Errorf("registry %s: %w", reg.Name, err)
		}
		if !o.DryRun {
			c.audit(reg.Key, r)
		}
	}
	b, err := c.sweepBlobs(ctx, start, o.DryRun)
	res.add(b)
	if err != nil {
		return res, fmt.Errorf("blob sweep: %w", err)
	}
	if o.Uploads && !o.DryRun && c.UploadExpiry > 0 {
		n, err := c.expireUploads(ctx, start)
		res.UploadsExpired = n
		if err != nil {
			return res, fmt.Errorf("upload expiry: %w", err)
		}
	}
	return res, nil
}

func (c *Collector) registries(ctx context.Context, only string) ([]*meta.Registry, error) {
	if only == "" {
		return c.Meta.ListRegistries(ctx)
	}
	r, err := c.Meta.GetRegistry(ctx, only)
	if err != nil {
		return nil, err
	}
	return []*meta.Registry{r}, nil
}

// Retention reads a registry's retention policy: the days untagged manifests
// are kept, and whether it is enabled (garbage collection of the registry is
// opt-in).
func Retention(reg *meta.Registry) (days int, enabled bool) {
	var p model.RegistryProperties
	if len(reg.Properties) == 0 || json.Unmarshal(reg.Properties, &p) != nil {
		return 0, false // unreadable: collect nothing (fail closed)
	}
	return p.Retention()
}

func (c *Collector) audit(reg string, r Result) {
	if c.Audit == nil || (r.ManifestsDeleted == 0 && r.LinksRemoved == 0) {
		return
	}
	c.Audit.Record(context.Background(), audit.Event{Registry: reg, Type: audit.TypeGC, Outcome: "success",
		Detail: fmt.Sprintf("garbage collection deleted %d untagged manifest(s) and removed %d unreferenced blob link(s)", r.ManifestsDeleted, r.LinksRemoved)})
}

// logSkip notes a repository left for the next run.
func logSkip(reg, repo string, err error) {
	slog.Info("garbage collection skipped a repository; the next run takes it", "registry", reg, "repository", repo, "reason", err)
}
