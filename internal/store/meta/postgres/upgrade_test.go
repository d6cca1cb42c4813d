package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/metatest"
	"github.com/moat-registry/moat/internal/store/meta/postgres"
	"github.com/moat-registry/moat/internal/store/meta/postgres/pgtest"
	"github.com/opencontainers/go-digest"
)

// TestUpgradeToProperties migrates a schema written before the changeable
// attributes existed: its content gets times from its pushes, every
// attribute true, and the manifest's size.
func TestUpgradeToProperties(t *testing.T) {
	cfg := pgtest.FreshSchema(t)
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	const before = 2 // migrations before the attributes
	d := digest.FromString("m")
	const pushed = int64(1_700_000_000_000_000_000)
	stmts := []string{`CREATE TABLE schema_version (v INTEGER NOT NULL)`}
	stmts = append(stmts, postgres.Migrations[:before]...)
	stmts = append(stmts, `INSERT INTO schema_version (v) VALUES (1), (2)`,
		`INSERT INTO repositories (reg, name) VALUES ('alpha1', 'app')`,
		`INSERT INTO manifests (reg, repo, digest, media_type, content, subject, artifact_type, annotations, created_at)
			VALUES ('alpha1', 'app', '`+d.String()+`', 'application/vnd.oci.image.manifest.v1+json', 'twelve bytes', '', '', '{}', 1700000000000000000)`,
		`INSERT INTO tags (reg, repo, tag, digest) VALUES ('alpha1', 'app', 'v1', '`+d.String()+`')`)
	for _, q := range stmts {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	pool.Close()
	s := pgtest.Open(t, cfg)
	r, err := s.RepositoryProperties(ctx, "alpha1", "app")
	if err != nil || r.Attributes != meta.Unlocked || r.Created.UnixNano() != pushed || r.Updated.UnixNano() != pushed || r.TagCount != 1 {
		t.Fatalf("repository: %+v %v", r, err)
	}
	tag, err := s.TagProperties(ctx, "alpha1", "app", "v1")
	if err != nil || tag.Attributes != meta.Unlocked || tag.Created.UnixNano() != pushed {
		t.Fatalf("tag: %+v %v", tag, err)
	}
	m, err := s.ManifestProperties(ctx, "alpha1", "app", d)
	if err != nil || m.Size != 12 || m.Updated.UnixNano() != pushed || m.Attributes != meta.Unlocked {
		t.Fatalf("manifest: %+v %v", m, err)
	}
}

// TestUpgradeToAuditTable migrates a schema whose audit events and network
// denial aggregates are resources (before the audit_events table): they are
// moved into the table, with their registry, UID, type, times and count.
func TestUpgradeToAuditTable(t *testing.T) {
	cfg := pgtest.FreshSchema(t)
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	before := len(postgres.Migrations) - 1
	if _, err := pool.Exec(ctx, `CREATE TABLE schema_version (v INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i, m := range postgres.Migrations[:before] {
		if _, err := pool.Exec(ctx, m); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO schema_version (v) VALUES ($1)`, i+1); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range metatest.LegacyAuditResources {
		if _, err := pool.Exec(ctx, `INSERT INTO resources (key, id, type, body, version) VALUES (lower($1), $1, $2, $3, 1)`, r[0], r[1], []byte(r[2])); err != nil {
			t.Fatal(err)
		}
	}
	pool.Close()
	metatest.CheckLegacyAudit(t, pgtest.Open(t, cfg))
}
