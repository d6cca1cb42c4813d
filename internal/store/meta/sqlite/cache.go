package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

// readCache keeps tag → digest and digest → manifest answers in memory so
// that a manifest HEAD or GET by tag (the hottest read of a registry) costs no
// query. It is exact, not eventually consistent: every write through the one
// writer (writer below) that may change a tag or manifest bumps gen after it
// commits, and answers are kept only for the generation they were read in. One SQLite file has one moat process
// (several nodes share PostgreSQL, which has no such cache), so no write can
// bypass it.
type readCache struct {
	gen atomic.Uint64 // bumped after every write that may change tags or manifests

	mu        sync.RWMutex
	mapGen    uint64 // the generation tags and manifests were read in
	tags      map[cacheKey]digest.Digest
	manifests map[cacheKey]*meta.Manifest
	bytes     int
}

type cacheKey struct{ reg, repo, ref string }

// Bounds: past them the cache starts over, which costs one query per entry.
const (
	maxCacheEntries  = 8192
	maxCacheBytes    = 32 << 20
	maxCachedContent = 256 << 10 // larger manifests (rare) are always read from the file
)

func (c *readCache) invalidate() { c.gen.Add(1) }

func (c *readCache) tag(k cacheKey) (digest.Digest, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.mapGen != c.gen.Load() {
		return "", false
	}
	d, ok := c.tags[k]
	return d, ok
}

func (c *readCache) manifest(k cacheKey) (*meta.Manifest, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.mapGen != c.gen.Load() {
		return nil, false
	}
	m, ok := c.manifests[k]
	return m, ok
}

// put stores an answer read in generation g, unless a write has happened since.
func (c *readCache) put(g uint64, k cacheKey, d digest.Digest, m *meta.Manifest) {
	if m != nil && len(m.Content) > maxCachedContent {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if g != c.gen.Load() {
		return
	}
	if c.tags == nil || c.mapGen != g || len(c.tags)+len(c.manifests) >= maxCacheEntries || c.bytes >= maxCacheBytes {
		c.mapGen, c.bytes = g, 0
		c.tags = make(map[cacheKey]digest.Digest)
		c.manifests = make(map[cacheKey]*meta.Manifest)
	}
	if m != nil {
		c.manifests[k] = m
		c.bytes += len(m.Content) + len(k.reg) + len(k.repo) + len(k.ref)
	} else {
		c.tags[k] = d
		c.bytes += len(d) + len(k.reg) + len(k.repo) + len(k.ref)
	}
}

// writer is the one writing connection. ExecContext and tx invalidate the
// cache once the write is done, so a new write is safe by default; only
// writes to tables the cache does not read (registries, uploads, blob links, settings,
// resources such as the audit trail) use execKeep and txKeep, so that they do
// not empty it: audit events are written for every pull and token.
type writer struct {
	db    *sql.DB
	cache *readCache
}

func (w writer) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	defer w.cache.invalidate()
	return w.db.ExecContext(ctx, query, args...)
}

// tx runs fn in a write transaction.
func (w writer) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	defer w.cache.invalidate()
	return inTx(ctx, w.db, fn)
}

// execKeep is ExecContext for a write that touches no tag or manifest row.
func (w writer) execKeep(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return w.db.ExecContext(ctx, query, args...)
}

// txKeep is tx for a transaction that touches no tag or manifest row.
func (w writer) txKeep(ctx context.Context, fn func(*sql.Tx) error) error {
	return inTx(ctx, w.db, fn)
}

func (w writer) Close() error { return w.db.Close() }

func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
