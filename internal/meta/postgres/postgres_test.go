package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/meta/metatest"
	"github.com/moat-registry/moat/internal/meta/postgres"
)

// dsn returns the server to test against (MOAT_TEST_POSTGRES). Without one the
// tests are skipped, except under MOAT_E2E=1 (scripts/test), where they fail.
func dsn(t testing.TB) string {
	t.Helper()
	d := os.Getenv("MOAT_TEST_POSTGRES")
	if d != "" {
		return d
	}
	const how = "run the tests through scripts/test (it starts a throwaway PostgreSQL with scripts/test-postgres), " +
		"or install PostgreSQL with scripts/install-test-deps and run: scripts/test-postgres go test ./internal/meta/postgres/"
	if os.Getenv("MOAT_E2E") == "1" {
		t.Fatal("MOAT_TEST_POSTGRES is not set (a PostgreSQL connection string) but MOAT_E2E=1 requires the PostgreSQL tests: " + how)
	}
	t.Skip("MOAT_TEST_POSTGRES is not set (a PostgreSQL connection string); skipping the PostgreSQL store tests: " + how)
	return ""
}

// freshSchema creates a uniquely named schema, drops it when the test ends,
// and returns a pool configuration whose connections use only that schema.
func freshSchema(t testing.TB) *pgxpool.Config {
	t.Helper()
	d := dsn(t)
	ctx := context.Background()
	b := make([]byte, 8)
	rand.Read(b)
	schema := "moat_test_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, d)
	if err != nil {
		t.Fatalf("connecting to MOAT_TEST_POSTGRES: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, d)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	cfg, err := pgxpool.ParseConfig(d)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	return cfg
}

func open(t testing.TB, cfg *pgxpool.Config) *postgres.Store {
	t.Helper()
	s, err := postgres.OpenConfig(context.Background(), cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSuite(t *testing.T) {
	dsn(t)
	metatest.Run(t, func(t *testing.T) meta.Store { return open(t, freshSchema(t)) })
}

// TestConcurrentMigration starts several stores on one empty schema at once,
// as several nodes starting together do: every one must come up, and the
// migrations must have run exactly once.
func TestConcurrentMigration(t *testing.T) {
	cfg := freshSchema(t)
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
	s := open(t, cfg)
	if v, err := s.InitSetting(context.Background(), "k", "v"); err != nil || v != "v" {
		t.Fatalf("store after migration: %q %v", v, err)
	}
}

// TestByteOrder checks that listings use byte order whatever the database's
// collation (SQLite compares bytes; a linguistic collation would not).
func TestByteOrder(t *testing.T) {
	s := open(t, freshSchema(t))
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

func BenchmarkListTags(b *testing.B) {
	dsn(b)
	metatest.BenchmarkListTags(b, func(b *testing.B) meta.Store { return open(b, freshSchema(b)) })
}
