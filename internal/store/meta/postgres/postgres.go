// Package postgres is the metadata store for scale-out deployments: several
// moat nodes share one PostgreSQL database. Its semantics are those of the
// SQLite store (internal/store/meta/sqlite), checked by the same shared suite
// (internal/store/meta/metatest):
//
//   - names, tags and keys are compared and ordered byte-wise (every text
//     column is COLLATE "C"), so tag and repository listings page exactly as
//     on SQLite whatever the database's default collation;
//   - resource IDs are case-insensitive through a lower-cased key column;
//   - registries and resources carry optimistic versions (ErrConflict);
//   - deleting a registry deletes all its content in one transaction.
//
// The schema is migrated on Open, under a PostgreSQL advisory lock so that
// several nodes starting at once migrate it exactly once.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/moat-registry/moat/internal/store"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlaudit"
	"github.com/moat-registry/moat/internal/store/meta/sqlprops"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Store is a meta.Store on PostgreSQL.
type Store struct {
	sqlprops.Store // meta.Properties
	sqlaudit.Trail // meta.AuditTrail
	pool           *pgxpool.Pool
}

var _ meta.Store = (*Store)(nil)

// Open connects to the database named by dsn (a PostgreSQL connection string
// or URL, see pgxpool.ParseConfig) and migrates its schema.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("metadata database: %w", err)
	}
	return OpenConfig(ctx, cfg)
}

// OpenConfig is Open with a parsed configuration (for example one whose
// ConnConfig.RuntimeParams set a search_path).
func OpenConfig(ctx context.Context, cfg *pgxpool.Config) (*Store, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata database: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("metadata database: %w", err)
	}
	s := &Store{pool: pool}
	s.Store = sqlprops.Store{Dialect: dialect, Read: querier{pool},
		Tx: func(ctx context.Context, fn func(sqlprops.Querier) error) error {
			return s.tx(ctx, func(tx pgx.Tx) error { return fn(querier{tx}) })
		}}
	s.Trail = sqlaudit.Trail{Read: querier{pool}, Tx: s.Store.Tx}
	return s, nil
}

func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrationLock is the pg_advisory_lock key held while migrating
// (the first 8 bytes of "moatmeta" read as a big-endian integer).
const migrationLock int64 = 0x6d6f61746d657461

// migrations are applied in order, each once, each in its own transaction;
// never edit a released one. Text columns are COLLATE "C": byte order and
// byte equality, as in SQLite.
var migrations = []string{
	`CREATE TABLE registries (
		key TEXT COLLATE "C" PRIMARY KEY, name TEXT NOT NULL, subscription TEXT NOT NULL,
		resource_group TEXT NOT NULL, location TEXT NOT NULL, sku TEXT NOT NULL,
		properties BYTEA, created_at BIGINT NOT NULL, version BIGINT NOT NULL);
	CREATE TABLE repositories (reg TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, PRIMARY KEY (reg, name));
	CREATE TABLE manifests (
		reg TEXT COLLATE "C" NOT NULL, repo TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL,
		media_type TEXT NOT NULL, content BYTEA NOT NULL, subject TEXT COLLATE "C" NOT NULL,
		artifact_type TEXT COLLATE "C" NOT NULL, annotations TEXT NOT NULL,
		PRIMARY KEY (reg, repo, digest));
	CREATE INDEX manifests_subject ON manifests (reg, repo, subject) WHERE subject <> '';
	CREATE TABLE tags (reg TEXT COLLATE "C" NOT NULL, repo TEXT COLLATE "C" NOT NULL, tag TEXT COLLATE "C" NOT NULL,
		digest TEXT COLLATE "C" NOT NULL, PRIMARY KEY (reg, repo, tag));
	CREATE INDEX tags_digest ON tags (reg, repo, digest);
	CREATE TABLE blobs (reg TEXT COLLATE "C" NOT NULL, repo TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL,
		size BIGINT NOT NULL, PRIMARY KEY (reg, repo, digest));
	CREATE INDEX blobs_digest ON blobs (reg, digest);
	CREATE TABLE uploads (id TEXT COLLATE "C" PRIMARY KEY, reg TEXT COLLATE "C" NOT NULL, repo TEXT COLLATE "C" NOT NULL,
		created_at BIGINT NOT NULL);
	CREATE INDEX uploads_reg ON uploads (reg);
	CREATE TABLE settings (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
	CREATE TABLE resources (key TEXT COLLATE "C" PRIMARY KEY, id TEXT NOT NULL, type TEXT COLLATE "C" NOT NULL,
		body BYTEA NOT NULL, version BIGINT NOT NULL);
	CREATE INDEX resources_type ON resources (lower(type), key);`,
	// Garbage collection: push and link times (existing rows count from the
	// upgrade), repository generations, blob tombstones, removals remembered.
	`ALTER TABLE manifests ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE blobs ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE repositories ADD COLUMN gen BIGINT NOT NULL DEFAULT 0;
	UPDATE manifests SET created_at = (extract(epoch FROM now()) * 1e9)::bigint;
	UPDATE blobs SET created_at = (extract(epoch FROM now()) * 1e9)::bigint;
	CREATE INDEX blobs_by_digest ON blobs (digest);
	CREATE TABLE blob_tombstones (digest TEXT COLLATE "C" PRIMARY KEY, created_at BIGINT NOT NULL);
	CREATE TABLE gc_removed (reg TEXT COLLATE "C" NOT NULL, repo TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL,
		removed_at BIGINT NOT NULL, PRIMARY KEY (reg, repo, digest));
	CREATE INDEX uploads_created ON uploads (created_at);`,
	// ACR's properties and changeable attributes (internal/store/meta/sqlprops):
	// creation and update times, the four attributes, and what ACR's API
	// shows of a manifest. Existing content counts from its last push.
	`ALTER TABLE repositories ADD COLUMN created_time BIGINT NOT NULL DEFAULT 0,
		ADD COLUMN updated_time BIGINT NOT NULL DEFAULT 0, ` + attributeColumns + `;
	ALTER TABLE tags ADD COLUMN created_time BIGINT NOT NULL DEFAULT 0,
		ADD COLUMN updated_time BIGINT NOT NULL DEFAULT 0, ` + attributeColumns + `;
	ALTER TABLE manifests ADD COLUMN created_time BIGINT NOT NULL DEFAULT 0,
		ADD COLUMN updated_time BIGINT NOT NULL DEFAULT 0, ` + attributeColumns + `,
		ADD COLUMN config_media_type TEXT NOT NULL DEFAULT '', ADD COLUMN image_size BIGINT NOT NULL DEFAULT 0,
		ADD COLUMN architecture TEXT NOT NULL DEFAULT '', ADD COLUMN os TEXT NOT NULL DEFAULT '',
		ADD COLUMN platforms TEXT NOT NULL DEFAULT '';
	UPDATE manifests SET created_time = created_at, updated_time = created_at, image_size = octet_length(content);
	UPDATE tags t SET created_time = COALESCE((SELECT m.created_at FROM manifests m
		WHERE m.reg = t.reg AND m.repo = t.repo AND m.digest = t.digest), (extract(epoch FROM now()) * 1e9)::bigint);
	UPDATE tags SET updated_time = created_time;
	UPDATE repositories r SET created_time = COALESCE((SELECT min(m.created_at) FROM manifests m
		WHERE m.reg = r.reg AND m.repo = r.name), (extract(epoch FROM now()) * 1e9)::bigint);
	UPDATE repositories r SET updated_time = COALESCE((SELECT max(m.created_at) FROM manifests m
		WHERE m.reg = r.reg AND m.repo = r.name), r.created_time);
	CREATE INDEX tags_by_time ON tags (reg, repo, updated_time, tag);
	CREATE INDEX manifests_by_time ON manifests (reg, repo, updated_time, digest);`,
	// Registries' immutable identity (a GUID); existing registries get one now.
	`ALTER TABLE registries ADD COLUMN uid TEXT NOT NULL DEFAULT '';
	UPDATE registries SET uid = gen_random_uuid()::text;`,
	// The audit trail in a table of its own (internal/store/meta/sqlaudit), with
	// the events and network denial aggregates stored as resources before.
	// An event's ID was /moat/auditEvents/<registry>/<20-digit ns>-<6-digit seq>.
	`CREATE TABLE audit_events (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, reg TEXT COLLATE "C" NOT NULL,
		reg_uid TEXT COLLATE "C" NOT NULL, type TEXT COLLATE "C" NOT NULL, at BIGINT NOT NULL, first_at BIGINT NOT NULL,
		n BIGINT NOT NULL, agg_key TEXT COLLATE "C" UNIQUE, body BYTEA NOT NULL);
	` + sqlaudit.Indexes + `
	INSERT INTO audit_events (reg, reg_uid, type, at, first_at, n, body)
		SELECT substr(id, 19, length(id) - 46), COALESCE(convert_from(body, 'UTF8')::jsonb->>'registryId', ''),
			COALESCE(convert_from(body, 'UTF8')::jsonb->>'type', ''), substr(id, length(id) - 26, 20)::bigint,
			substr(id, length(id) - 26, 20)::bigint, 0, body
		FROM resources WHERE type = 'moat/auditEvents' ORDER BY key;
	INSERT INTO audit_events (reg, reg_uid, type, at, first_at, n, agg_key, body)
		SELECT j->>'registry', '', 'denial', (extract(epoch FROM (j->>'lastSeen')::timestamptz) * 1000000)::bigint * 1000,
			(extract(epoch FROM (j->>'firstSeen')::timestamptz) * 1000000)::bigint * 1000, (j->>'count')::bigint, key, body
		FROM (SELECT key, body, convert_from(body, 'UTF8')::jsonb AS j FROM resources WHERE type = 'moat/networkDenials') d ORDER BY key;
	DELETE FROM resources WHERE type IN ('moat/auditEvents', 'moat/networkDenials');`,
}

// attributeColumns adds the changeable attributes to a table (all true).
const attributeColumns = `ADD COLUMN delete_enabled BOOLEAN NOT NULL DEFAULT true, ADD COLUMN write_enabled BOOLEAN NOT NULL DEFAULT true,
	ADD COLUMN list_enabled BOOLEAN NOT NULL DEFAULT true, ADD COLUMN read_enabled BOOLEAN NOT NULL DEFAULT true`

// migrate brings the schema up to date. It holds a session advisory lock for
// the whole run, so concurrent starters wait for the first one and then find
// nothing left to do.
func migrate(ctx context.Context, pool *pgxpool.Pool) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	defer func() {
		// A fresh context: unlock even if ctx was cancelled. If the unlock
		// fails, drop the connection so the session (and its lock) ends.
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, migrationLock); uerr != nil {
			conn.Conn().Close(uctx)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (v INTEGER NOT NULL)`); err != nil {
		return err
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(v), 0) FROM schema_version`).Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this moat (knows %d)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_version (v) VALUES ($1)`, i+1)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// tx runs fn in a transaction (read committed).
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

func noRows(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return meta.ErrNotFound
	}
	return err
}

// likePrefix returns a LIKE pattern matching the strings that start with p.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

// lockRegistry takes a key-share lock on the registry row, if there is one,
// so that DeleteRegistry (which deletes that row first) cannot run between
// this transaction's check and its writes: either the delete waits for this
// transaction and then removes what it wrote, or this transaction waits for
// the delete. Content of a registry that does not exist can still be written,
// as on SQLite; CreateRegistry clears any such leftovers.
func lockRegistry(ctx context.Context, tx pgx.Tx, reg string) error {
	_, err := tx.Exec(ctx, `SELECT 1 FROM registries WHERE key = $1 FOR KEY SHARE`, reg)
	return err
}

// --- registries

func (s *Store) CreateRegistry(ctx context.Context, r *meta.Registry) (err error) {
	defer s.announce(&err)
	r.NewUID()
	err = s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO registries (`+meta.RegistryCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,1,$9)
			ON CONFLICT (key) DO NOTHING`,
			r.Key, r.Name, r.Subscription, r.ResourceGroup, r.Location, r.SKU, []byte(r.Properties), r.CreatedAt.UnixNano(), r.UID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return meta.ErrExists
		}
		// A new registry starts empty, even if a write raced a delete of an
		// earlier registry of the same name.
		for _, t := range meta.ContentTables {
			if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE reg = $1`, r.Key); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		r.Version = 1
	}
	return err
}

func (s *Store) GetRegistry(ctx context.Context, key string) (*meta.Registry, error) {
	r, err := meta.ScanRegistry(s.pool.QueryRow(ctx, `SELECT `+meta.RegistryCols+` FROM registries WHERE key = $1`, key))
	return r, noRows(err)
}

func (s *Store) UpdateRegistry(ctx context.Context, r *meta.Registry) (err error) {
	defer s.announce(&err)
	tag, err := s.pool.Exec(ctx, `UPDATE registries SET sku = $1, location = $2, properties = $3, version = version + 1
		WHERE key = $4 AND version = $5`, r.SKU, r.Location, []byte(r.Properties), r.Key, r.Version)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.GetRegistry(ctx, r.Key); err != nil {
			return err
		}
		return meta.ErrConflict
	}
	r.Version++
	return nil
}

func (s *Store) DeleteRegistry(ctx context.Context, key string) (err error) {
	defer s.announce(&err)
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM registries WHERE key = $1`, key)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return meta.ErrNotFound
		}
		for _, t := range meta.ContentTables {
			if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE reg = $1`, key); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) ListRegistries(ctx context.Context) ([]*meta.Registry, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+meta.RegistryCols+` FROM registries ORDER BY key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.ScanRegistries(rows)
}

// --- manifests and tags

func ensureRepo(ctx context.Context, tx pgx.Tx, reg, repo string) error {
	if err := lockRegistry(ctx, tx, reg); err != nil {
		return err
	}
	now := time.Now().UnixNano()
	_, err := tx.Exec(ctx, `INSERT INTO repositories (reg, name, created_time, updated_time) VALUES ($1, $2, $3, $3) ON CONFLICT DO NOTHING`, reg, repo, now)
	return err
}

func (s *Store) PutManifest(ctx context.Context, reg, repo string, m *meta.Manifest, tags ...string) error {
	now := time.Now()
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockRegistry(ctx, tx, reg); err != nil {
			return err
		}
		if err := bumpGen(ctx, tx, reg, repo, now); err != nil {
			return err
		}
		if err := checkRefs(ctx, tx, reg, repo, m); err != nil {
			return err
		}
		return sqlprops.Put(ctx, querier{tx}, dialect, reg, repo, m, tags, now)
	})
}

func (s *Store) GetManifest(ctx context.Context, reg, repo string, d digest.Digest) (*meta.Manifest, error) {
	m := meta.Manifest{Digest: d}
	var subject, ann string
	var readable, repoReadable bool
	err := s.pool.QueryRow(ctx, `SELECT m.media_type, m.content, m.subject, m.artifact_type, m.annotations,
			m.read_enabled, COALESCE(r.read_enabled, true)
		FROM manifests m LEFT JOIN repositories r ON r.reg = m.reg AND r.name = m.repo
		WHERE m.reg = $1 AND m.repo = $2 AND m.digest = $3`, reg, repo, d.String()).
		Scan(&m.MediaType, &m.Content, &subject, &m.ArtifactType, &ann, &readable, &repoReadable)
	if err != nil {
		return nil, noRows(err)
	}
	if err := meta.Unreadable(reg, repo, repoReadable, d, readable); err != nil {
		return nil, err
	}
	m.Subject = digest.Digest(subject)
	if ann != "{}" {
		_ = json.Unmarshal([]byte(ann), &m.Annotations)
	}
	return &m, nil
}

func (s *Store) ResolveTag(ctx context.Context, reg, repo, tag string) (digest.Digest, error) {
	var d string
	var readable bool
	err := s.pool.QueryRow(ctx, `SELECT digest, read_enabled FROM tags WHERE reg = $1 AND repo = $2 AND tag = $3`, reg, repo, tag).Scan(&d, &readable)
	if err == nil && !readable {
		return "", meta.UnreadableTag(reg, repo, tag)
	}
	return digest.Digest(d), noRows(err)
}

func (s *Store) DeleteManifest(ctx context.Context, reg, repo string, d digest.Digest) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		return sqlprops.DeleteManifest(ctx, querier{tx}, dialect, reg, repo, d, time.Now())
	})
}

func (s *Store) DeleteTag(ctx context.Context, reg, repo, tag string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		return sqlprops.DeleteTag(ctx, querier{tx}, dialect, reg, repo, tag, time.Now())
	})
}

// limit turns n into a LIMIT argument: NULL (no limit) when n < 0.
func limit(n int) *int64 {
	if n < 0 {
		return nil
	}
	v := int64(n)
	return &v
}

func (s *Store) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.ScanStrings(rows)
}

func (s *Store) ListTags(ctx context.Context, reg, repo, last string, n int) ([]string, error) {
	return s.strings(ctx, `SELECT tag FROM tags WHERE reg = $1 AND repo = $2 AND tag > $3 AND list_enabled ORDER BY tag LIMIT $4`,
		reg, repo, last, limit(n))
}

func (s *Store) ListRepositories(ctx context.Context, reg, last string, n int) ([]string, error) {
	return s.strings(ctx, `SELECT name FROM repositories WHERE reg = $1 AND name > $2 ORDER BY name LIMIT $3`,
		reg, last, limit(n))
}

func (s *Store) RepositoryExists(ctx context.Context, reg, repo string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM repositories WHERE reg = $1 AND name = $2)`, reg, repo).Scan(&ok)
	return ok, err
}

func (s *Store) Referrers(ctx context.Context, reg, repo string, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	q := `SELECT digest, media_type, octet_length(content), artifact_type, annotations FROM manifests
		WHERE reg = $1 AND repo = $2 AND subject = $3`
	args := []any{reg, repo, d.String()}
	if artifactType != "" {
		q += ` AND artifact_type = $4`
		args = append(args, artifactType)
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY digest`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.ScanReferrers(rows)
}

// --- blob links

func (s *Store) LinkBlob(ctx context.Context, reg, repo string, d digest.Digest, size int64) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockDigest(ctx, tx, d); err != nil {
			return err
		}
		var tomb bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blob_tombstones WHERE digest = $1)`, d.String()).Scan(&tomb); err != nil {
			return err
		}
		if tomb {
			return meta.ErrBlobDeleting
		}
		if err := ensureRepo(ctx, tx, reg, repo); err != nil {
			return err
		}
		if err := sqlprops.RepoWritable(ctx, querier{tx}, dialect, reg, repo); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM gc_removed WHERE reg = $1 AND repo = $2 AND digest = $3`, reg, repo, d.String()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO blobs (reg, repo, digest, size, created_at) VALUES ($1,$2,$3,$4,$5)
			ON CONFLICT (reg, repo, digest) DO UPDATE SET size = excluded.size, created_at = excluded.created_at`,
			reg, repo, d.String(), size, time.Now().UnixNano())
		return err
	})
}

func (s *Store) BlobSize(ctx context.Context, reg, repo string, d digest.Digest) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT size FROM blobs WHERE reg = $1 AND repo = $2 AND digest = $3`, reg, repo, d.String()).Scan(&n)
	return n, noRows(err)
}

func (s *Store) FindBlob(ctx context.Context, reg string, d digest.Digest) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT size FROM blobs WHERE reg = $1 AND digest = $2 LIMIT 1`, reg, d.String()).Scan(&n)
	return n, noRows(err)
}

func (s *Store) UnlinkBlob(ctx context.Context, reg, repo string, d digest.Digest) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := sqlprops.RepoWritable(ctx, querier{tx}, dialect, reg, repo); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM blobs WHERE reg = $1 AND repo = $2 AND digest = $3`, reg, repo, d.String())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return meta.ErrNotFound
		}
		return nil
	})
}

// --- uploads

func (s *Store) CreateUpload(ctx context.Context, u *meta.Upload) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockRegistry(ctx, tx, u.Registry); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO uploads (id, reg, repo, created_at) VALUES ($1,$2,$3,$4) ON CONFLICT (id) DO NOTHING`,
			u.ID, u.Registry, u.Repository, u.CreatedAt.UnixNano())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return meta.ErrExists
		}
		return nil
	})
}

func (s *Store) GetUpload(ctx context.Context, id string) (*meta.Upload, error) {
	u := meta.Upload{ID: id}
	var created int64
	err := s.pool.QueryRow(ctx, `SELECT reg, repo, created_at FROM uploads WHERE id = $1`, id).Scan(&u.Registry, &u.Repository, &created)
	if err != nil {
		return nil, noRows(err)
	}
	u.CreatedAt = time.Unix(0, created).UTC()
	return &u, nil
}

func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM uploads WHERE id = $1`, id)
	return err
}

func (s *Store) CountUploads(ctx context.Context, registry string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM uploads WHERE reg = $1`, registry).Scan(&n)
	return n, err
}

// --- settings

func (s *Store) InitSetting(ctx context.Context, key, value string) (string, error) {
	// ON CONFLICT waits for a concurrent insert of the same key to commit, so
	// the SELECT (a new statement, a new snapshot) always finds the winner.
	if _, err := s.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", err
	}
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	return v, err
}

// --- generic resources

func (s *Store) PutResource(ctx context.Context, r *meta.Resource) (err error) {
	defer s.announce(&err)
	key := strings.ToLower(r.ID)
	if r.Version == 0 {
		tag, err := s.pool.Exec(ctx, `INSERT INTO resources (key, id, type, body, version) VALUES ($1,$2,$3,$4,1)
			ON CONFLICT (key) DO NOTHING`, key, r.ID, r.Type, []byte(r.Body))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return meta.ErrExists
		}
		r.Version = 1
		return nil
	}
	tag, err := s.pool.Exec(ctx, `UPDATE resources SET body = $1, version = version + 1 WHERE key = $2 AND version = $3`,
		[]byte(r.Body), key, r.Version)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.GetResource(ctx, r.ID); err != nil {
			return err
		}
		return meta.ErrConflict
	}
	r.Version++
	return nil
}

func (s *Store) GetResource(ctx context.Context, id string) (*meta.Resource, error) {
	var r meta.Resource
	var body []byte
	err := s.pool.QueryRow(ctx, `SELECT id, type, body, version FROM resources WHERE key = $1`, strings.ToLower(id)).
		Scan(&r.ID, &r.Type, &body, &r.Version)
	if err != nil {
		return nil, noRows(err)
	}
	r.Body = body
	return &r, nil
}

func (s *Store) ListResources(ctx context.Context, typ, prefix string) ([]*meta.Resource, error) {
	// lower() on both sides: SQLite's COLLATE NOCASE (the types are ASCII).
	rows, err := s.pool.Query(ctx, `SELECT id, type, body, version FROM resources
		WHERE lower(type) = lower($1) AND key LIKE $2 ORDER BY key`, typ, likePrefix(strings.ToLower(prefix)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*meta.Resource
	for rows.Next() {
		var r meta.Resource
		var body []byte
		if err := rows.Scan(&r.ID, &r.Type, &body, &r.Version); err != nil {
			return nil, err
		}
		r.Body = body
		out = append(out, &r)
	}
	return out, rows.Err()
}

func (s *Store) DeleteResource(ctx context.Context, id string) (err error) {
	defer s.announce(&err)
	key := strings.ToLower(id)
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM resources WHERE key = $1`, key)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return meta.ErrNotFound
		}
		_, err = tx.Exec(ctx, `DELETE FROM resources WHERE key LIKE $1`, likePrefix(key+"/"))
		return err
	})
}

// channel is the PostgreSQL notification channel of configuration changes.
const channel = "moat_changes"

// announce tells every node (Listen) that registries or resources changed,
// after a successful write.
func (s *Store) announce(err *error) {
	if *err == nil {
		// Best effort: the periodic resync of each node catches a lost notice.
		_, _ = s.pool.Exec(context.Background(), "SELECT pg_notify('"+channel+"', '')")
	}
}

// Listen calls changed after every change to registries or resources that
// any node commits, until ctx ends; it reconnects after an error. This is how
// a change made through one node is in force on every node at once.
func (s *Store) Listen(ctx context.Context, changed func()) {
	for ctx.Err() == nil {
		if err := s.listenOnce(ctx, changed); err != nil && ctx.Err() == nil {
			slog.Warn("listening for configuration changes; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, changed func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	changed() // catch up on what happened while not listening
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		changed()
	}
}

var _ store.Classifier = (*Store)(nil)

// Unavailable (store.Classifier) reports whether err means the database could
// not be reached or went away (connection refused or lost, shutdown, startup
// in progress) rather than a failed statement.
func (s *Store) Unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P01-57P03: shutdown, crash, starting up.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
