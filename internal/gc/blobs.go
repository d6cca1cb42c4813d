package gc

import (
	"context"
	"errors"
	"time"

	"github.com/moat-registry/moat/internal/store/blob"
	"github.com/opencontainers/go-digest"
)

// sweepBlobs deletes the blob files no registry links that were committed
// before now minus the grace window. For each: a tombstone is set in a
// transaction that finds no link (from then on LinkBlob refuses the digest),
// the bytes are deleted, the tombstone is cleared. A client that linked the
// digest before the tombstone kept it; one that tries while it exists is
// refused; one that links after it was cleared finds the bytes gone when the
// OCI handler checks them, and uploads again.
func (c *Collector) sweepBlobs(ctx context.Context, now time.Time, dry bool) (Result, error) {
	var res Result
	if !dry {
		// Tombstones left by a collector that stopped midway: no link was
		// made since they were set, so their bytes may go.
		left, err := c.Meta.Tombstones(ctx)
		if err != nil {
			return res, err
		}
		for _, d := range left {
			if err := c.deleteBlob(ctx, d); err != nil {
				return res, err
			}
		}
	}
	cutoff := now.Add(-c.Grace)
	var old []blob.Info
	err := c.Blobs.Walk(ctx, func(b blob.Info) error {
		if b.Committed.Before(cutoff) {
			old = append(old, b)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	for _, b := range old {
		linked, err := c.Meta.BlobLinked(ctx, b.Digest)
		if err != nil {
			return res, err
		}
		if linked {
			continue
		}
		if !dry {
			ok, err := c.Meta.TombstoneBlob(ctx, b.Digest)
			if err != nil {
				return res, err
			}
			if !ok {
				continue // linked since
			}
			if err := c.deleteBlob(ctx, b.Digest); err != nil {
				return res, err
			}
		}
		res.BlobsDeleted++
		res.BytesFreed += b.Size
	}
	return res, nil
}

// deleteBlob deletes a tombstoned blob's bytes, then its tombstone.
func (c *Collector) deleteBlob(ctx context.Context, d digest.Digest) error {
	if err := c.Blobs.Delete(ctx, d); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return err // the tombstone stays; the next run finishes
	}
	return c.Meta.ClearTombstone(ctx, d)
}
