// Package pgtest gives tests a PostgreSQL store in a schema of their own on
// the server named by MOAT_TEST_POSTGRES (scripts/test-postgres sets it).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/moat-registry/moat/internal/store/meta/postgres"
)

// DSN returns the server to test against (MOAT_TEST_POSTGRES). Without one
// the test is skipped, except under MOAT_E2E=1 (scripts/test), where it fails.
func DSN(t testing.TB) string {
	t.Helper()
	d := os.Getenv("MOAT_TEST_POSTGRES")
	if d != "" {
		return d
	}
	const how = "run the tests through scripts/test (it starts a throwaway PostgreSQL with scripts/test-postgres), " +
		"or install PostgreSQL with scripts/install-test-deps and run: scripts/test-postgres go test ./<package>/"
	if os.Getenv("MOAT_E2E") == "1" {
		t.Fatal("MOAT_TEST_POSTGRES is not set (a PostgreSQL connection string) but MOAT_E2E=1 requires the PostgreSQL tests: " + how)
	}
	t.Skip("MOAT_TEST_POSTGRES is not set (a PostgreSQL connection string); skipping the PostgreSQL tests: " + how)
	return ""
}

// FreshSchema creates a uniquely named schema, drops it when the test ends,
// and returns a pool configuration whose connections use only that schema.
func FreshSchema(t testing.TB) *pgxpool.Config {
	t.Helper()
	d := DSN(t)
	cfg, err := pgxpool.ParseConfig(d)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = newSchema(t, d)
	return cfg
}

// SchemaDSN is FreshSchema as a connection string, for a moat server
// (--postgres) started by the test.
func SchemaDSN(t testing.TB) string {
	t.Helper()
	d := DSN(t)
	sep := "?"
	if strings.Contains(d, "?") {
		sep = "&"
	}
	return d + sep + "search_path=" + newSchema(t, d)
}

// newSchema creates a uniquely named schema on d and drops it when the test ends.
func newSchema(t testing.TB, d string) string {
	t.Helper()
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
	return schema
}

// Open opens a store on cfg, closed when the test ends.
func Open(t testing.TB, cfg *pgxpool.Config) *postgres.Store {
	t.Helper()
	s, err := postgres.OpenConfig(context.Background(), cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
