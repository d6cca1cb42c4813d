package gc

import (
	"context"
	"errors"
	"time"

	"github.com/moat-registry/moat/internal/store/blob"
)

// expireUploads removes upload sessions idle for longer than UploadExpiry:
// the session row first (a resume then gets BLOB_UPLOAD_UNKNOWN), then the
// blob store's upload. Blob-store uploads without a row (left by a crash, or
// monolithic uploads whose request died) and rows without an upload go too.
func (c *Collector) expireUploads(ctx context.Context, now time.Time) (int, error) {
	cutoff := now.Add(-c.UploadExpiry)
	live := map[string]bool{}
	var idle []string
	err := c.Blobs.WalkUploads(ctx, func(u blob.UploadInfo) error {
		live[u.ID] = true
		if u.Updated.Before(cutoff) {
			idle = append(idle, u.ID)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range idle {
		if err := c.Meta.DeleteUpload(ctx, id); err != nil {
			return n, err
		}
		u, err := c.Blobs.ResumeUpload(ctx, id)
		if errors.Is(err, blob.ErrNotFound) {
			continue // finished meanwhile
		} else if err != nil {
			return n, err
		}
		if err := u.Cancel(ctx); err != nil {
			return n, err
		}
		n++
	}
	// Rows created before the cutoff whose upload is gone.
	rows, err := c.Meta.ListUploads(ctx, cutoff)
	if err != nil {
		return n, err
	}
	for _, u := range rows {
		if !live[u.ID] {
			if err := c.Meta.DeleteUpload(ctx, u.ID); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
