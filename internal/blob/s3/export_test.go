package s3

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// CheckConditionalWrites: a session write over a version that another request
// has replaced must be refused (If-Match), as must creating a session that
// exists (If-None-Match). The lease rests on both.
func CheckConditionalWrites(ctx context.Context, s *Store) error {
	nu, err := s.NewUpload(ctx, digest.SHA256)
	if err != nil {
		return err
	}
	a := nu.(*upload)
	a.release()
	b := &upload{s: s, id: a.id}
	if err := b.load(ctx); err != nil {
		return err
	}
	b.st.Lease = "another node" // a different body, so a different ETag
	if err := b.save(ctx, false); err != nil {
		return fmt.Errorf("write over the current version: %w", err)
	}
	if err := a.save(ctx, false); !errors.Is(err, errLost) {
		return fmt.Errorf("write over a replaced version: %v, want errLost", err)
	}
	if err := b.save(ctx, true); !errors.Is(err, errLost) {
		return fmt.Errorf("create over an existing session: %v, want errLost", err)
	}
	return nil
}
