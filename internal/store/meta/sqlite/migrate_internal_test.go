package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
)

// TestUpgradeToProperties opens a database written before the changeable
// attributes existed: its content gets times from its pushes, every
// attribute true, and the manifest's size.
func TestUpgradeToProperties(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	const before = 3 // migrations before the attributes
	if _, err := db.Exec(`CREATE TABLE schema_version (v INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i, m := range migrations[:before] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
		db.Exec(`INSERT INTO schema_version (v) VALUES (?)`, i+1)
	}
	d := digest.FromString("m")
	const pushed = int64(1_700_000_000_000_000_000)
	for _, q := range []string{
		`INSERT INTO repositories (reg, name) VALUES ('alpha1', 'app')`,
		`INSERT INTO manifests (reg, repo, digest, media_type, content, subject, artifact_type, annotations, created_at)
			VALUES ('alpha1', 'app', '` + d.String() + `', 'application/vnd.oci.image.manifest.v1+json', 'twelve bytes', '', '', '{}', ` + "1700000000000000000" + `)`,
		`INSERT INTO tags (reg, repo, tag, digest) VALUES ('alpha1', 'app', 'v1', '` + d.String() + `')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
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
