package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

// SQLite runs one write transaction at a time (the single writer, BEGIN
// IMMEDIATE), so every check-then-write below is atomic against every other
// write: no extra locking is needed for the guarantees of meta.GC.

// checkRefs refuses m if a sweep removed something it references that has not
// come back since (ErrReferenceRemoved). It runs in PutManifest's transaction.
func checkRefs(ctx context.Context, tx *sql.Tx, reg, repo string, m *meta.Manifest) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM gc_removed WHERE reg = ? AND repo = ? AND digest = ?`, reg, repo, m.Digest.String()); err != nil {
		return err
	}
	for _, d := range m.Refs {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM gc_removed g WHERE reg = ? AND repo = ? AND digest = ?
			AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.reg = g.reg AND b.repo = g.repo AND b.digest = g.digest)
			AND NOT EXISTS (SELECT 1 FROM manifests x WHERE x.reg = g.reg AND x.repo = g.repo AND x.digest = g.digest)`,
			reg, repo, d.String()).Scan(&one)
		if err == nil {
			return fmt.Errorf("%w: %s", meta.ErrReferenceRemoved, d)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	return nil
}

func (s *Store) RepositoryContent(ctx context.Context, reg, repo string) (*meta.RepositoryContent, error) {
	// One read transaction: a consistent snapshot (WAL).
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	c := &meta.RepositoryContent{Tagged: map[digest.Digest]bool{}}
	if err := tx.QueryRowContext(ctx, `SELECT gen, NOT write_enabled FROM repositories WHERE reg = ? AND name = ?`, reg, repo).Scan(&c.Gen, &c.Locked); err != nil {
		return nil, noRows(err)
	}
	for _, q := range []struct {
		sql  string
		scan func(meta.Rows) error
	}{
		{`SELECT ` + meta.StoredManifestCols + ` FROM manifests WHERE reg = ? AND repo = ?`, c.ScanStoredManifests},
		{`SELECT DISTINCT digest FROM tags WHERE reg = ? AND repo = ?`, c.ScanTagged},
		{`SELECT digest, size, created_at FROM blobs WHERE reg = ? AND repo = ?`, c.ScanLinks},
	} {
		rows, err := tx.QueryContext(ctx, q.sql, reg, repo)
		if err != nil {
			return nil, err
		}
		err = q.scan(rows)
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

var sweepSQL = meta.SweepSQL{
	DeleteManifest: `DELETE FROM manifests WHERE reg = ? AND repo = ? AND digest = ? AND delete_enabled AND write_enabled`,
	DeleteTags:     `DELETE FROM tags WHERE reg = ? AND repo = ? AND digest = ?`,
	DeleteLink:     `DELETE FROM blobs WHERE reg = ? AND repo = ? AND digest = ? AND created_at < ?`,
	Remember:       `INSERT OR REPLACE INTO gc_removed (reg, repo, digest, removed_at) VALUES (?,?,?,?)`,
}

func (s *Store) SweepRepository(ctx context.Context, reg, repo string, gen int64, manifests, links []digest.Digest, linkCutoff time.Time) (meta.Swept, error) {
	var sw meta.Swept
	err := s.tx(ctx, func(tx *sql.Tx) error {
		sw = meta.Swept{}
		var cur int64
		var locked bool
		if err := tx.QueryRowContext(ctx, `SELECT gen, NOT write_enabled FROM repositories WHERE reg = ? AND name = ?`, reg, repo).Scan(&cur, &locked); err != nil {
			return noRows(err)
		}
		if cur != gen {
			return meta.ErrConflict
		}
		if locked {
			return nil
		}
		var err error
		sw, err = meta.Sweep(func(q string, args ...any) (int64, error) {
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return 0, err
			}
			return res.RowsAffected()
		}, sweepSQL, reg, repo, manifests, links, linkCutoff)
		return err
	})
	return sw, err
}

func (s *Store) BlobLinked(ctx context.Context, d digest.Digest) (bool, error) {
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM blobs WHERE digest = ? LIMIT 1`, d.String()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) TombstoneBlob(ctx context.Context, d digest.Digest) (bool, error) {
	ok := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM blobs WHERE digest = ? LIMIT 1`, d.String()).Scan(&one)
		if err == nil {
			return nil // linked: keep
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		ok = true
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO blob_tombstones (digest, created_at) VALUES (?, ?)`, d.String(), time.Now().UnixNano())
		return err
	})
	return ok && err == nil, err
}

func (s *Store) ClearTombstone(ctx context.Context, d digest.Digest) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM blob_tombstones WHERE digest = ?`, d.String())
	return err
}

func (s *Store) Tombstones(ctx context.Context) ([]digest.Digest, error) {
	ds, err := s.strings(ctx, `SELECT digest FROM blob_tombstones ORDER BY digest`)
	return meta.Digests(ds), err
}

func (s *Store) ForgetRemoved(ctx context.Context, t time.Time) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM gc_removed WHERE removed_at < ?`, t.UnixNano())
	return err
}

func (s *Store) ListUploads(ctx context.Context, before time.Time) ([]*meta.Upload, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, reg, repo, created_at FROM uploads WHERE created_at < ? ORDER BY created_at`, before.UnixNano())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.ScanUploads(rows)
}

func (s *Store) LockGC(ctx context.Context, wait bool) (func(), bool, error) {
	unlock := func() { <-s.gcLock }
	if !wait {
		select {
		case s.gcLock <- struct{}{}:
			return unlock, true, nil
		default:
			return nil, false, nil
		}
	}
	select {
	case s.gcLock <- struct{}{}:
		return unlock, true, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}
