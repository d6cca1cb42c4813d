package gc

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Loop runs a full collection (with upload expiry) every interval until ctx
// ends. On several nodes only the one that holds the lock runs; the others
// skip that tick.
func (c *Collector) Loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := c.Run(ctx, Options{Uploads: true})
		switch {
		case errors.Is(err, ErrBusy):
			slog.Debug("garbage collection: another node is collecting")
		case err != nil && ctx.Err() == nil:
			slog.Error("garbage collection failed; retrying at the next interval", "err", err)
		case err == nil:
			slog.Info("garbage collection", "manifestsDeleted", res.ManifestsDeleted, "linksRemoved", res.LinksRemoved,
				"blobsDeleted", res.BlobsDeleted, "bytesFreed", res.BytesFreed, "uploadsExpired", res.UploadsExpired,
				"repositoriesSkipped", res.RepositoriesSkipped)
		}
	}
}
