package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/metatest"
	"github.com/moat-registry/moat/internal/store/meta/postgres"
	"github.com/moat-registry/moat/internal/store/meta/postgres/pgtest"
)

func TestSuite(t *testing.T) {
	pgtest.DSN(t)
	metatest.Run(t, func(t *testing.T) meta.Store { return pgtest.Open(t, pgtest.FreshSchema(t)) })
}

// TestConcurrentMigration starts several stores on one empty schema at once,
// as several nodes starting together do: every one must come up, and the
// migrations must have run exactly once.
func TestConcurrentMigration(t *testing.T) {
	cfg := pgtest.FreshSchema(t)
	const nodes = 6
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	stores := make([]*postgres.Store, nodes)
	for i := range nodes {
		wg.Go(func() { stores[i], errs[i] = postgres.OpenConfig(context.Background(), cfg.Copy()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n, max int
	if err := pool.QueryRow(context.Background(), `SELECT count(*), max(v) FROM schema_version`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != max || n < 1 {
		t.Fatalf("schema_version has %d rows up to version %d: each migration must run exactly once", n, max)
	}
	// A node started later finds nothing to do.
	s := pgtest.Open(t, cfg)
	if v, err := s.InitSetting(context.Background(), "k", "v"); err != nil || v != "v" {
		t.Fatalf("store after migration: %q %v", v, err)
	}
}

// TestByteOrder checks that listings use byte order whatever the database's
// collation (SQLite compares bytes; a linguistic collation would not).
func TestByteOrder(t *testing.T) {
	s := pgtest.Open(t, pgtest.FreshSchema(t))
	ctx := context.Background()
	if err := s.CreateRegistry(ctx, &meta.Registry{Key: "alpha1", Name: "alpha1"}); err != nil {
		t.Fatal(err)
	}
	tags := []string{"b", "B", "a-1", "a_1", "a1", "A", "_x", "-x", "z"}
	m := &meta.Manifest{Digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000", MediaType: "x", Content: []byte("{}")}
	if err := s.PutManifest(ctx, "alpha1", "app", m, tags...); err != nil {
		t.Fatal(err)
	}
	want := []string{"-x", "A", "B", "_x", "a-1", "a1", "a_1", "b", "z"}
	got, err := s.ListTags(ctx, "alpha1", "app", "", -1)
	if err != nil || len(got) != len(want) {
		t.Fatalf("tags: %v %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("tags in %v, want byte order %v", got, want)
		}
	}
	if page, _ := s.ListTags(ctx, "alpha1", "app", "_x", 2); len(page) != 2 || page[0] != "a-1" || page[1] != "a1" {
		t.Fatalf("page after _x: %v", page)
	}
	// Prefix listing treats LIKE metacharacters literally.
	for _, id := range []string{"/a_b/x", "/aXb/y", "/a%/z"} {
		if err := s.PutResource(ctx, &meta.Resource{ID: id, Type: "T", Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := s.ListResources(ctx, "t", "/A_B/"); err != nil || len(l) != 1 || l[0].ID != "/a_b/x" {
		t.Fatalf("prefix /A_B/: %v %v", l, err)
	}
	if l, _ := s.ListResources(ctx, "T", "/a%"); len(l) != 1 || l[0].ID != "/a%/z" {
		t.Fatalf("prefix /a%%: %v", l)
	}
}

// TestGCLockAcrossNodes: two stores on one database (two nodes) never
// collect at the same time; the lock is free again after unlock.
func TestGCLockAcrossNodes(t *testing.T) {
	cfg := pgtest.FreshSchema(t)
	a, b := pgtest.Open(t, cfg), pgtest.Open(t, cfg)
	ctx := context.Background()
	unlock, ok, err := a.LockGC(ctx, false)
	if !ok || err != nil {
		t.Fatalf("node a: %v %v", ok, err)
	}
	if _, ok, err := b.LockGC(ctx, false); ok || err != nil {
		t.Fatalf("node b while a collects: %v %v", ok, err)
	}
	unlock()
	unlock, ok, err = b.LockGC(ctx, false)
	if !ok || err != nil {
		t.Fatalf("node b after a finished: %v %v", ok, err)
	}
	done := make(chan error, 1)
	go func() {
		unlock, _, err := a.LockGC(ctx, true) // waits for b
		if err == nil {
			unlock()
		}
		done <- err
	}()
	unlock()
	if err := <-done; err != nil {
		t.Fatalf("node a waiting for b: %v", err)
	}
}

func BenchmarkListTags(b *testing.B) {
	pgtest.DSN(b)
	metatest.BenchmarkListTags(b, func(b *testing.B) meta.Store { return pgtest.Open(b, pgtest.FreshSchema(b)) })
}

func BenchmarkAuditPage(b *testing.B) {
	pgtest.DSN(b)
	metatest.BenchmarkAuditPage(b, func(b *testing.B) meta.Store { return pgtest.Open(b, pgtest.FreshSchema(b)) })
}

// TestRegistryUIDMigration: registries created before registries had an
// immutable ID get one, each its own, when the schema is upgraded.
func TestRegistryUIDMigration(t *testing.T) {
	cfg := pgtest.FreshSchema(t)
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	before := slices.IndexFunc(postgres.Migrations, func(m string) bool { return strings.Contains(m, "registries ADD COLUMN uid") })
	stmts := []string{`CREATE TABLE schema_version (v INTEGER NOT NULL)`}
	for i := range before {
		stmts = append(stmts, postgres.Migrations[i], fmt.Sprintf(`INSERT INTO schema_version (v) VALUES (%d)`, i+1))
	}
	for _, name := range []string{"old1reg", "old2reg"} {
		stmts = append(stmts, `INSERT INTO registries (key, name, subscription, resource_group, location, sku, properties, created_at, version)
			VALUES ('`+name+`', '`+name+`', 's', 'default', 'local', 'Premium', NULL, 1, 1)`)
	}
	for _, q := range stmts {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s := pgtest.Open(t, cfg)
	a, err1 := s.GetRegistry(ctx, "old1reg")
	b, err2 := s.GetRegistry(ctx, "old2reg")
	if err1 != nil || err2 != nil || len(a.UID) != 36 || len(b.UID) != 36 || a.UID == b.UID {
		t.Fatalf("after the upgrade: %+v %+v %v %v", a, b, err1, err2)
	}
}
