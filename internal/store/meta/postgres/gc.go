package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

// Transactions here run at READ COMMITTED, where two transactions that each
// check and then write can both pass their checks. The pairs that must not
// interleave are made to conflict on a lock, after which every statement of
// the waiting transaction takes a fresh snapshot and sees the other's writes:
//
//   - PutManifest and SweepRepository: both lock the repository row first
//     (bumpGen's upsert, SweepRepository's SELECT ... FOR UPDATE). A sweep that
//     wins finds the generation it marked and commits its removals, which the
//     manifest's checkRefs then sees; a sweep that loses finds a new
//     generation and removes nothing.
//   - LinkBlob and TombstoneBlob: both take a transaction advisory lock on the
//     digest (lockDigest). A row lock would not do: neither may find a row to
//     lock (the tombstone and the link are both being inserted).
//   - LinkBlob and SweepRepository's link removal: the DELETE waits for the
//     upsert's row lock and re-checks created_at on the new row version, so a
//     link made again is kept.

// gcLockKey is the session advisory lock key of the one running collector,
// per schema: advisory locks are database-wide, and deployments (or tests)
// in other schemas of the same database must not wait for each other.
const gcLockKey = `hashtextextended('moat-gc:' || current_schema(), 0)`

// lockDigest serialises the transactions that link or tombstone d.
func lockDigest(ctx context.Context, tx pgx.Tx, d digest.Digest) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, d.String())
	return err
}

// bumpGen creates the repository or bumps its generation, holding its row
// lock until the transaction ends.
func bumpGen(ctx context.Context, tx pgx.Tx, reg, repo string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO repositories (reg, name, created_time, updated_time) VALUES ($1, $2, $3, $3)
		ON CONFLICT (reg, name) DO UPDATE SET gen = repositories.gen + 1, updated_time = excluded.updated_time`, reg, repo, now.UnixNano())
	return err
}

// checkRefs refuses m if a sweep removed something it references that has not
// come back since (ErrReferenceRemoved). It runs after bumpGen.
func checkRefs(ctx context.Context, tx pgx.Tx, reg, repo string, m *meta.Manifest) error {
	if _, err := tx.Exec(ctx, `DELETE FROM gc_removed WHERE reg = $1 AND repo = $2 AND digest = $3`, reg, repo, m.Digest.String()); err != nil {
		return err
	}
	if len(m.Refs) == 0 {
		return nil
	}
	refs := make([]string, len(m.Refs))
	for i, d := range m.Refs {
		refs[i] = d.String()
	}
	var gone string
	err := tx.QueryRow(ctx, `SELECT digest FROM gc_removed g WHERE reg = $1 AND repo = $2 AND digest = ANY($3)
		AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.reg = g.reg AND b.repo = g.repo AND b.digest = g.digest)
		AND NOT EXISTS (SELECT 1 FROM manifests x WHERE x.reg = g.reg AND x.repo = g.repo AND x.digest = g.digest)
		LIMIT 1`, reg, repo, refs).Scan(&gone)
	if err == nil {
		return fmt.Errorf("%w: %s", meta.ErrReferenceRemoved, gone)
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return nil
}

func (s *Store) RepositoryContent(ctx context.Context, reg, repo string) (*meta.RepositoryContent, error) {
	c := &meta.RepositoryContent{Tagged: map[digest.Digest]bool{}}
	// REPEATABLE READ: one snapshot for the whole read.
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT gen, NOT write_enabled FROM repositories WHERE reg = $1 AND name = $2`, reg, repo).Scan(&c.Gen, &c.Locked); err != nil {
			return noRows(err)
		}
		for _, q := range []struct {
			sql  string
			scan func(meta.Rows) error
		}{
			{`SELECT ` + meta.StoredManifestCols + ` FROM manifests WHERE reg = $1 AND repo = $2`, c.ScanStoredManifests},
			{`SELECT DISTINCT digest FROM tags WHERE reg = $1 AND repo = $2`, c.ScanTagged},
			{`SELECT digest, size, created_at FROM blobs WHERE reg = $1 AND repo = $2`, c.ScanLinks},
		} {
			rows, err := tx.Query(ctx, q.sql, reg, repo)
			if err != nil {
				return err
			}
			err = q.scan(rows)
			rows.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

var sweepSQL = meta.SweepSQL{
	DeleteManifest: `DELETE FROM manifests WHERE reg = $1 AND repo = $2 AND digest = $3 AND delete_enabled AND write_enabled`,
	DeleteTags:     `DELETE FROM tags WHERE reg = $1 AND repo = $2 AND digest = $3`,
	DeleteLink:     `DELETE FROM blobs WHERE reg = $1 AND repo = $2 AND digest = $3 AND created_at < $4`,
	Remember: `INSERT INTO gc_removed (reg, repo, digest, removed_at) VALUES ($1,$2,$3,$4)
		ON CONFLICT (reg, repo, digest) DO UPDATE SET removed_at = excluded.removed_at`,
}

func (s *Store) SweepRepository(ctx context.Context, reg, repo string, gen int64, manifests, links []digest.Digest, linkCutoff time.Time) (meta.Swept, error) {
	var sw meta.Swept
	err := s.tx(ctx, func(tx pgx.Tx) error {
		sw = meta.Swept{}
		var cur int64
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT gen, NOT write_enabled FROM repositories WHERE reg = $1 AND name = $2 FOR UPDATE`, reg, repo).Scan(&cur, &locked); err != nil {
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
			tag, err := tx.Exec(ctx, q, args...)
			return tag.RowsAffected(), err
		}, sweepSQL, reg, repo, manifests, links, linkCutoff)
		return err
	})
	return sw, err
}

func (s *Store) BlobLinked(ctx context.Context, d digest.Digest) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blobs WHERE digest = $1)`, d.String()).Scan(&ok)
	return ok, err
}

func (s *Store) TombstoneBlob(ctx context.Context, d digest.Digest) (bool, error) {
	ok := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockDigest(ctx, tx, d); err != nil {
			return err
		}
		var linked bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blobs WHERE digest = $1)`, d.String()).Scan(&linked); err != nil {
			return err
		}
		if linked {
			return nil
		}
		ok = true
		_, err := tx.Exec(ctx, `INSERT INTO blob_tombstones (digest, created_at) VALUES ($1, $2)
			ON CONFLICT (digest) DO NOTHING`, d.String(), time.Now().UnixNano())
		return err
	})
	return ok && err == nil, err
}

func (s *Store) ClearTombstone(ctx context.Context, d digest.Digest) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM blob_tombstones WHERE digest = $1`, d.String())
	return err
}

func (s *Store) Tombstones(ctx context.Context) ([]digest.Digest, error) {
	ds, err := s.strings(ctx, `SELECT digest FROM blob_tombstones ORDER BY digest`)
	return meta.Digests(ds), err
}

func (s *Store) ForgetRemoved(ctx context.Context, t time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM gc_removed WHERE removed_at < $1`, t.UnixNano())
	return err
}

func (s *Store) ListUploads(ctx context.Context, before time.Time) ([]*meta.Upload, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, reg, repo, created_at FROM uploads WHERE created_at < $1 ORDER BY created_at`, before.UnixNano())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.ScanUploads(rows)
}

// LockGC holds a session advisory lock on a connection of its own until
// unlock; if the connection dies, PostgreSQL releases the lock with it.
func (s *Store) LockGC(ctx context.Context, wait bool) (func(), bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	ok := true
	if wait {
		_, err = conn.Exec(ctx, `SELECT pg_advisory_lock(`+gcLockKey+`)`)
	} else {
		err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+gcLockKey+`)`).Scan(&ok)
	}
	if err != nil || !ok {
		conn.Release()
		return nil, false, err
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+gcLockKey+`)`); err != nil {
			conn.Conn().Close(uctx) // ends the session, and the lock with it
		}
		conn.Release()
	}, true, nil
}
