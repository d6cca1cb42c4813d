package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRegistryUIDMigration: registries created before registries had an
// immutable ID get one, each its own, when the schema is upgraded.
func TestRegistryUIDMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	before := slices.IndexFunc(migrations, func(m string) bool { return strings.Contains(m, "registries ADD COLUMN uid") })
	stmts := []string{`CREATE TABLE schema_version (v INTEGER NOT NULL)`}
	for i := range before {
		stmts = append(stmts, migrations[i], fmt.Sprintf(`INSERT INTO schema_version (v) VALUES (%d)`, i+1))
	}
	for _, name := range []string{"old1reg", "old2reg"} {
		stmts = append(stmts, `INSERT INTO registries (key, name, subscription, resource_group, location, sku, properties, created_at, version)
			VALUES ('`+name+`', '`+name+`', 's', 'default', 'local', 'Premium', NULL, 1, 1)`)
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	a, err1 := s.GetRegistry(ctx, "old1reg")
	b, err2 := s.GetRegistry(ctx, "old2reg")
	if err1 != nil || err2 != nil || len(a.UID) != 36 || len(b.UID) != 36 || a.UID == b.UID || a.UID[14] != '4' {
		t.Fatalf("after the upgrade: %+v %+v %v %v", a, b, err1, err2)
	}
}
