// Package sqlite is the metadata store of the embedded default: one SQLite file
// in WAL mode, written through a single connection (SQLite has one writer
// anyway; queuing in Go beats busy-waiting in SQLite) and read through a pool.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlaudit"
	"github.com/moat-registry/moat/internal/store/meta/sqlprops"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	_ "modernc.org/sqlite"
)

// Store is a meta.Store on SQLite.
type Store struct {
	sqlprops.Store         // meta.Properties
	sqlaudit.Trail         // meta.AuditTrail
	w              writer  // the one writer (cache.go)
	r              *sql.DB // readers
	cache          *readCache
	// gcLock admits one collector: one process owns a SQLite file.
	gcLock chan struct{}
}

var _ meta.Store = (*Store)(nil)

// Open opens (creating and migrating) the database at path.
func Open(path string) (*Store, error) {
	dsn := func(extra string) string {
		q := url.Values{}
		for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode() + extra
	}
	w, err := sql.Open("sqlite", dsn("&_txlock=immediate"))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	if err := migrate(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("metadata database %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn("&_pragma=query_only(1)"))
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	c := &readCache{}
	s := &Store{w: writer{db: w, cache: c}, r: r, cache: c, gcLock: make(chan struct{}, 1)}
	s.Store = sqlprops.Store{Dialect: dialect, Read: querier{r},
		Tx: func(ctx context.Context, fn func(sqlprops.Querier) error) error {
			return s.tx(ctx, func(tx *sql.Tx) error { return fn(querier{tx}) })
		}}
	// The audit trail's writes touch no tag or manifest: the read cache stays.
	s.Trail = sqlaudit.Trail{Read: querier{r}, Tx: func(ctx context.Context, fn func(sqlprops.Querier) error) error {
		return s.w.txKeep(ctx, func(tx *sql.Tx) error { return fn(querier{tx}) })
	}}
	return s, nil
}

func (s *Store) Close() error { return errors.Join(s.r.Close(), s.w.Close()) }

// migrations are applied in order, each once; never edit a released one.
var migrations = []string{
	`CREATE TABLE registries (
		key TEXT PRIMARY KEY, name TEXT NOT NULL, subscription TEXT NOT NULL,
		resource_group TEXT NOT NULL, location TEXT NOT NULL, sku TEXT NOT NULL,
		properties BLOB, created_at INTEGER NOT NULL, version INTEGER NOT NULL);
	CREATE TABLE repositories (reg TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (reg, name)) WITHOUT ROWID;
	CREATE TABLE manifests (
		reg TEXT NOT NULL, repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL,
		content BLOB NOT NULL, subject TEXT NOT NULL, artifact_type TEXT NOT NULL, annotations TEXT NOT NULL,
		PRIMARY KEY (reg, repo, digest));
	CREATE INDEX manifests_subject ON manifests (reg, repo, subject) WHERE subject != '';
	CREATE TABLE tags (reg TEXT NOT NULL, repo TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL,
		PRIMARY KEY (reg, repo, tag)) WITHOUT ROWID;
	CREATE INDEX tags_digest ON tags (reg, repo, digest);
	CREATE TABLE blobs (reg TEXT NOT NULL, repo TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,
		PRIMARY KEY (reg, repo, digest)) WITHOUT ROWID;
	CREATE INDEX blobs_digest ON blobs (reg, digest);
	CREATE TABLE uploads (id TEXT PRIMARY KEY, reg TEXT NOT NULL, repo TEXT NOT NULL, created_at INTEGER NOT NULL);
	CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
	`CREATE TABLE resources (key TEXT PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL,
		body BLOB NOT NULL, version INTEGER NOT NULL);
	CREATE INDEX resources_type ON resources (type, key);`,
	// Garbage collection: push and link times (existing rows count from the
	// upgrade), repository generations, blob tombstones, removals remembered.
	`ALTER TABLE manifests ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE blobs ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE repositories ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;
	UPDATE manifests SET created_at = unixepoch() * 1000000000;
	UPDATE blobs SET created_at = unixepoch() * 1000000000;
	CREATE INDEX blobs_by_digest ON blobs (digest);
	CREATE TABLE blob_tombstones (digest TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
	CREATE TABLE gc_removed (reg TEXT NOT NULL, repo TEXT NOT NULL, digest TEXT NOT NULL, removed_at INTEGER NOT NULL,
		PRIMARY KEY (reg, repo, digest)) WITHOUT ROWID;
	CREATE INDEX uploads_created ON uploads (created_at);`,
	// ACR's properties and changeable attributes (internal/store/meta/sqlprops):
	// creation and update times, the four attributes, and what ACR's API
	// shows of a manifest. Existing content counts from its last push.
	`ALTER TABLE repositories ADD COLUMN created_time INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE repositories ADD COLUMN updated_time INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE tags ADD COLUMN created_time INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE tags ADD COLUMN updated_time INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE manifests ADD COLUMN created_time INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE manifests ADD COLUMN updated_time INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE manifests ADD COLUMN config_media_type TEXT NOT NULL DEFAULT '';
	ALTER TABLE manifests ADD COLUMN image_size INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE manifests ADD COLUMN architecture TEXT NOT NULL DEFAULT '';
	ALTER TABLE manifests ADD COLUMN os TEXT NOT NULL DEFAULT '';
	ALTER TABLE manifests ADD COLUMN platforms TEXT NOT NULL DEFAULT '';
	` + attributeColumns("repositories") + attributeColumns("tags") + attributeColumns("manifests") + `
	UPDATE manifests SET created_time = created_at, updated_time = created_at, image_size = length(content);
	UPDATE tags SET created_time = COALESCE((SELECT m.created_at FROM manifests m
		WHERE m.reg = tags.reg AND m.repo = tags.repo AND m.digest = tags.digest), unixepoch() * 1000000000);
	UPDATE tags SET updated_time = created_time;
	UPDATE repositories SET created_time = COALESCE((SELECT min(m.created_at) FROM manifests m
		WHERE m.reg = repositories.reg AND m.repo = repositories.name), unixepoch() * 1000000000);
	UPDATE repositories SET updated_time = COALESCE((SELECT max(m.created_at) FROM manifests m
		WHERE m.reg = repositories.reg AND m.repo = repositories.name), created_time);
	CREATE INDEX tags_by_time ON tags (reg, repo, updated_time, tag);
	CREATE INDEX manifests_by_time ON manifests (reg, repo, updated_time, digest);`,
	// Registries' immutable identity (a GUID); existing registries get one now.
	`ALTER TABLE registries ADD COLUMN uid TEXT NOT NULL DEFAULT '';
	UPDATE registries SET uid = lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
		substr('89ab', 1 + abs(random()) % 4, 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)));`,
	// The audit trail in a table of its own (internal/store/meta/sqlaudit), with
	// the events and network denial aggregates stored as resources before.
	// An event's ID was /moat/auditEvents/<registry>/<20-digit ns>-<6-digit seq>.
	`CREATE TABLE audit_events (seq INTEGER PRIMARY KEY, reg TEXT NOT NULL, reg_uid TEXT NOT NULL, type TEXT NOT NULL,
		at INTEGER NOT NULL, first_at INTEGER NOT NULL, n INTEGER NOT NULL, agg_key TEXT UNIQUE, body BLOB NOT NULL);
	` + sqlaudit.Indexes + `
	INSERT INTO audit_events (reg, reg_uid, type, at, first_at, n, body)
		SELECT substr(id, 19, length(id) - 46), COALESCE(json_extract(CAST(body AS TEXT), '$.registryId'), ''),
			COALESCE(json_extract(CAST(body AS TEXT), '$.type'), ''), CAST(substr(id, -27, 20) AS INTEGER),
			CAST(substr(id, -27, 20) AS INTEGER), 0, body
		FROM resources WHERE type = 'moat/auditEvents' ORDER BY key;
	INSERT INTO audit_events (reg, reg_uid, type, at, first_at, n, agg_key, body)
		SELECT json_extract(CAST(body AS TEXT), '$.registry'), '', 'denial',
			CAST(unixepoch(json_extract(CAST(body AS TEXT), '$.lastSeen'), 'subsec') * 1000000 AS INTEGER) * 1000,
			CAST(unixepoch(json_extract(CAST(body AS TEXT), '$.firstSeen'), 'subsec') * 1000000 AS INTEGER) * 1000,
			json_extract(CAST(body AS TEXT), '$.count'), key, body
		FROM resources WHERE type = 'moat/networkDenials' ORDER BY key;
	DELETE FROM resources WHERE type IN ('moat/auditEvents', 'moat/networkDenials');`,
}

// attributeColumns adds the changeable attributes to a table (all true).
func attributeColumns(table string) string {
	out := ""
	for _, c := range []string{"delete_enabled", "write_enabled", "list_enabled", "read_enabled"} {
		out += "ALTER TABLE " + table + " ADD COLUMN " + c + " INTEGER NOT NULL DEFAULT 1;\n"
	}
	return out
}

func migrate(db *sql.DB) error {
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS schema_version (v INTEGER NOT NULL)`); err != nil {
		return err
	}
	var v int
	if err := db.QueryRow(`SELECT COALESCE(MAX(v), 0) FROM schema_version`).Scan(&v); err != nil {
		return err
	}
	for i := v; i < len(migrations); i++ {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(`INSERT INTO schema_version (v) VALUES (?)`, i+1); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// tx runs fn in a write transaction.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error { return s.w.tx(ctx, fn) }

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func noRows(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return meta.ErrNotFound
	}
	return err
}

// --- registries

func (s *Store) CreateRegistry(ctx context.Context, r *meta.Registry) error {
	r.Version = 1
	r.NewUID()
	_, err := s.w.execKeep(ctx, `INSERT INTO registries (`+meta.RegistryCols+`) VALUES (?,?,?,?,?,?,?,?,?,?)`,
		r.Key, r.Name, r.Subscription, r.ResourceGroup, r.Location, r.SKU, []byte(r.Properties), r.CreatedAt.UnixNano(), r.Version, r.UID)
	if isUnique(err) {
		return meta.ErrExists
	}
	return err
}

func (s *Store) GetRegistry(ctx context.Context, key string) (*meta.Registry, error) {
	r, err := meta.ScanRegistry(s.r.QueryRowContext(ctx, `SELECT `+meta.RegistryCols+` FROM registries WHERE key = ?`, key))
	return r, noRows(err)
}

func (s *Store) UpdateRegistry(ctx context.Context, r *meta.Registry) error {
	res, err := s.w.execKeep(ctx, `UPDATE registries SET sku = ?, location = ?, properties = ?, version = version + 1
		WHERE key = ? AND version = ?`, r.SKU, r.Location, []byte(r.Properties), r.Key, r.Version)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.GetRegistry(ctx, r.Key); err != nil {
			return err
		}
		return meta.ErrConflict
	}
	r.Version++
	return nil
}

func (s *Store) DeleteRegistry(ctx context.Context, key string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM registries WHERE key = ?`, key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return meta.ErrNotFound
		}
		for _, t := range meta.ContentTables {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE reg = ?`, key); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) ListRegistries(ctx context.Context) ([]*meta.Registry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+meta.RegistryCols+` FROM registries ORDER BY key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.ScanRegistries(rows)
}

// --- manifests and tags

func ensureRepo(ctx context.Context, tx *sql.Tx, reg, repo string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO repositories (reg, name, created_time, updated_time) VALUES (?, ?, ?, ?)`,
		reg, repo, now.UnixNano(), now.UnixNano())
	return err
}

func (s *Store) PutManifest(ctx context.Context, reg, repo string, m *meta.Manifest, tags ...string) error {
	now := time.Now()
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := ensureRepo(ctx, tx, reg, repo, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE repositories SET gen = gen + 1, updated_time = ? WHERE reg = ? AND name = ?`,
			now.UnixNano(), reg, repo); err != nil {
			return err
		}
		if err := checkRefs(ctx, tx, reg, repo, m); err != nil {
			return err
		}
		return sqlprops.Put(ctx, querier{tx}, dialect, reg, repo, m, tags, now)
	})
}

func (s *Store) GetManifest(ctx context.Context, reg, repo string, d digest.Digest) (*meta.Manifest, error) {
	k := cacheKey{reg, repo, string(d)}
	if m, ok := s.cache.manifest(k); ok {
		cp := *m // callers own the struct; content and annotations are shared, read-only
		return &cp, nil
	}
	g := s.cache.gen.Load()
	m := meta.Manifest{Digest: d}
	var subject, ann string
	var readable, repoReadable bool
	err := s.r.QueryRowContext(ctx, `SELECT m.media_type, m.content, m.subject, m.artifact_type, m.annotations,
			m.read_enabled, COALESCE(r.read_enabled, 1)
		FROM manifests m LEFT JOIN repositories r ON r.reg = m.reg AND r.name = m.repo
		WHERE m.reg = ? AND m.repo = ? AND m.digest = ?`, reg, repo, d.String()).
		Scan(&m.MediaType, &m.Content, &subject, &m.ArtifactType, &ann, &readable, &repoReadable)
	if err != nil {
		return nil, noRows(err)
	}
	if err := meta.Unreadable(reg, repo, repoReadable, d, readable); err != nil {
		return nil, err // never cached: a pull of it asks again
	}
	m.Subject = digest.Digest(subject)
	if ann != "{}" {
		_ = json.Unmarshal([]byte(ann), &m.Annotations)
	}
	cached := m
	s.cache.put(g, k, "", &cached)
	return &m, nil
}

func (s *Store) ResolveTag(ctx context.Context, reg, repo, tag string) (digest.Digest, error) {
	k := cacheKey{reg, repo, tag}
	if d, ok := s.cache.tag(k); ok {
		return d, nil
	}
	g := s.cache.gen.Load()
	var d string
	var readable bool
	if err := s.r.QueryRowContext(ctx, `SELECT digest, read_enabled FROM tags WHERE reg = ? AND repo = ? AND tag = ?`, reg, repo, tag).
		Scan(&d, &readable); err != nil {
		return "", noRows(err)
	}
	if !readable {
		return "", meta.UnreadableTag(reg, repo, tag)
	}
	s.cache.put(g, k, digest.Digest(d), nil)
	return digest.Digest(d), nil
}

func (s *Store) DeleteManifest(ctx context.Context, reg, repo string, d digest.Digest) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		return sqlprops.DeleteManifest(ctx, querier{tx}, dialect, reg, repo, d, time.Now())
	})
}

func (s *Store) DeleteTag(ctx context.Context, reg, repo, tag string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		return sqlprops.DeleteTag(ctx, querier{tx}, dialect, reg, repo, tag, time.Now())
	})
}

func limit(n int) int {
	if n < 0 {
		return -1 // SQLite: no limit
	}
	return n
}

func (s *Store) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.ScanStrings(rows)
}

func (s *Store) ListTags(ctx context.Context, reg, repo, last string, n int) ([]string, error) {
	return s.strings(ctx, `SELECT tag FROM tags WHERE reg = ? AND repo = ? AND tag > ? AND list_enabled ORDER BY tag LIMIT ?`, reg, repo, last, limit(n))
}

func (s *Store) ListRepositories(ctx context.Context, reg, last string, n int) ([]string, error) {
	return s.strings(ctx, `SELECT name FROM repositories WHERE reg = ? AND name > ? ORDER BY name LIMIT ?`, reg, last, limit(n))
}

func (s *Store) RepositoryExists(ctx context.Context, reg, repo string) (bool, error) {
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM repositories WHERE reg = ? AND name = ?`, reg, repo).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) Referrers(ctx context.Context, reg, repo string, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	q := `SELECT digest, media_type, length(content), artifact_type, annotations FROM manifests
		WHERE reg = ? AND repo = ? AND subject = ?`
	args := []any{reg, repo, d.String()}
	if artifactType != "" {
		q += ` AND artifact_type = ?`
		args = append(args, artifactType)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY digest`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.ScanReferrers(rows)
}

// --- blob links

func (s *Store) LinkBlob(ctx context.Context, reg, repo string, d digest.Digest, size int64) error {
	return s.w.txKeep(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM blob_tombstones WHERE digest = ?`, d.String()).Scan(&one)
		if err == nil {
			return meta.ErrBlobDeleting
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := ensureRepo(ctx, tx, reg, repo, time.Now()); err != nil {
			return err
		}
		if err := sqlprops.RepoWritable(ctx, querier{tx}, dialect, reg, repo); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM gc_removed WHERE reg = ? AND repo = ? AND digest = ?`, reg, repo, d.String()); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO blobs (reg, repo, digest, size, created_at) VALUES (?,?,?,?,?)`,
			reg, repo, d.String(), size, time.Now().UnixNano())
		return err
	})
}

func (s *Store) BlobSize(ctx context.Context, reg, repo string, d digest.Digest) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT size FROM blobs WHERE reg = ? AND repo = ? AND digest = ?`, reg, repo, d.String()).Scan(&n)
	return n, noRows(err)
}

func (s *Store) FindBlob(ctx context.Context, reg string, d digest.Digest) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT size FROM blobs WHERE reg = ? AND digest = ? LIMIT 1`, reg, d.String()).Scan(&n)
	return n, noRows(err)
}

func (s *Store) UnlinkBlob(ctx context.Context, reg, repo string, d digest.Digest) error {
	return s.w.txKeep(ctx, func(tx *sql.Tx) error {
		if err := sqlprops.RepoWritable(ctx, querier{tx}, dialect, reg, repo); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM blobs WHERE reg = ? AND repo = ? AND digest = ?`, reg, repo, d.String())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return meta.ErrNotFound
		}
		return nil
	})
}

// --- uploads

func (s *Store) CreateUpload(ctx context.Context, u *meta.Upload) error {
	_, err := s.w.execKeep(ctx, `INSERT INTO uploads (id, reg, repo, created_at) VALUES (?,?,?,?)`,
		u.ID, u.Registry, u.Repository, u.CreatedAt.UnixNano())
	if isUnique(err) {
		return meta.ErrExists
	}
	return err
}

func (s *Store) GetUpload(ctx context.Context, id string) (*meta.Upload, error) {
	u := meta.Upload{ID: id}
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT reg, repo, created_at FROM uploads WHERE id = ?`, id).Scan(&u.Registry, &u.Repository, &created)
	if err != nil {
		return nil, noRows(err)
	}
	u.CreatedAt = time.Unix(0, created).UTC()
	return &u, nil
}

func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	_, err := s.w.execKeep(ctx, `DELETE FROM uploads WHERE id = ?`, id)
	return err
}

func (s *Store) CountUploads(ctx context.Context, registry string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM uploads WHERE reg = ?`, registry).Scan(&n)
	return n, err
}

// --- settings

func (s *Store) InitSetting(ctx context.Context, key, value string) (string, error) {
	if _, err := s.w.execKeep(ctx, `INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)`, key, value); err != nil {
		return "", err
	}
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	return v, err
}

// --- generic resources

func (s *Store) PutResource(ctx context.Context, r *meta.Resource) error {
	key := strings.ToLower(r.ID)
	if r.Version == 0 {
		_, err := s.w.execKeep(ctx, `INSERT INTO resources (key, id, type, body, version) VALUES (?,?,?,?,1)`, key, r.ID, r.Type, []byte(r.Body))
		if isUnique(err) {
			return meta.ErrExists
		}
		if err == nil {
			r.Version = 1
		}
		return err
	}
	res, err := s.w.execKeep(ctx, `UPDATE resources SET body = ?, version = version + 1 WHERE key = ? AND version = ?`, []byte(r.Body), key, r.Version)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
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
	err := s.r.QueryRowContext(ctx, `SELECT id, type, body, version FROM resources WHERE key = ?`, strings.ToLower(id)).
		Scan(&r.ID, &r.Type, &body, &r.Version)
	if err != nil {
		return nil, noRows(err)
	}
	r.Body = body
	return &r, nil
}

func (s *Store) ListResources(ctx context.Context, typ, prefix string) ([]*meta.Resource, error) {
	p := strings.ToLower(prefix)
	rows, err := s.r.QueryContext(ctx, `SELECT id, type, body, version FROM resources
		WHERE type = ? COLLATE NOCASE AND key >= ? AND key < ? ORDER BY key`, typ, p, p+"\xff")
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

func (s *Store) DeleteResource(ctx context.Context, id string) error {
	key := strings.ToLower(id)
	return s.w.txKeep(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM resources WHERE key = ?`, key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return meta.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM resources WHERE key > ? AND key < ?`, key+"/", key+"/\xff")
		return err
	})
}
