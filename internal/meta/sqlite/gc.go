package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/moat-registry/moat/internal/meta"
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
	if err := tx.QueryRowContext(ctx, `SELECT gen FROM repositories WHERE reg = ? AND name = ?`, reg, repo).Scan(&c.Gen); err != nil {
		return nil, noRows(err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT digest, media_type, content, subject, created_at FROM manifests WHERE reg = ? AND repo = ?`, reg, repo)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var m meta.StoredManifest
		var d, subject string
		var at int64
		if err := rows.Scan(&d, &m.MediaType, &m.Content, &subject, &at); err != nil {
			return nil, err
		}
		m.Digest, m.Subject, m.Pushed = digest.Digest(d), digest.Digest(subject), time.Unix(0, at)
		c.Manifests = append(c.Manifests, &m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	tagged, err := queryStrings(ctx, tx, `SELECT DISTINCT digest FROM tags WHERE reg = ? AND repo = ?`, reg, repo)
	if err != nil {
		return nil, err
	}
	for _, d := range tagged {
		c.Tagged[digest.Digest(d)] = true
	}
	links, err := tx.QueryContext(ctx, `SELECT digest, size, created_at FROM blobs WHERE reg = ? AND repo = ?`, reg, repo)
	if err != nil {
		return nil, err
	}
	defer links.Close()
	for links.Next() {
		var l meta.Link
		var d string
		var at int64
		if err := links.Scan(&d, &l.Size, &at); err != nil {
			return nil, err
		}
		l.Digest, l.Linked = digest.Digest(d), time.Unix(0, at)
		c.Links = append(c.Links, l)
	}
	return c, links.Err()
}

func queryStrings(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (s *Store) SweepRepository(ctx context.Context, reg, repo string, gen int64, manifests, links []digest.Digest, linkCutoff time.Time) (meta.Swept, error) {
	var sw meta.Swept
	err := s.tx(ctx, func(tx *sql.Tx) error {
		sw = meta.Swept{}
		var cur int64
		if err := tx.QueryRowContext(ctx, `SELECT gen FROM repositories WHERE reg = ? AND name = ?`, reg, repo).Scan(&cur); err != nil {
			return noRows(err)
		}
		if cur != gen {
			return meta.ErrConflict
		}
		now := time.Now().UnixNano()
		remember := func(d digest.Digest) error {
			_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO gc_removed (reg, repo, digest, removed_at) VALUES (?,?,?,?)`, reg, repo, d.String(), now)
			return err
		}
		for _, d := range manifests {
			res, err := tx.ExecContext(ctx, `DELETE FROM manifests WHERE reg = ? AND repo = ? AND digest = ?`, reg, repo, d.String())
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				sw.Manifests++
				if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE reg = ? AND repo = ? AND digest = ?`, reg, repo, d.String()); err != nil {
					return err
				}
				if err := remember(d); err != nil {
					return err
				}
			}
		}
		for _, d := range links {
			res, err := tx.ExecContext(ctx, `DELETE FROM blobs WHERE reg = ? AND repo = ? AND digest = ? AND created_at < ?`,
				reg, repo, d.String(), linkCutoff.UnixNano())
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				sw.Links++
				if err := remember(d); err != nil {
					return err
				}
			}
		}
		return nil
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
	out := make([]digest.Digest, len(ds))
	for i, d := range ds {
		out[i] = digest.Digest(d)
	}
	return out, err
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
	var out []*meta.Upload
	for rows.Next() {
		var u meta.Upload
		var at int64
		if err := rows.Scan(&u.ID, &u.Registry, &u.Repository, &at); err != nil {
			return nil, err
		}
		u.CreatedAt = time.Unix(0, at).UTC()
		out = append(out, &u)
	}
	return out, rows.Err()
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
