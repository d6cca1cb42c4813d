package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/moat-registry/moat/internal/store/meta/metatest"
)

// TestUpgradeToAuditTable opens a database whose audit events and network
// denial aggregates are resources (before the audit_events table): they are
// moved into the table, with their registry, UID, type, times and count.
func TestUpgradeToAuditTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	before := len(migrations) - 1
	if _, err := db.Exec(`CREATE TABLE schema_version (v INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i, m := range migrations[:before] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
		db.Exec(`INSERT INTO schema_version (v) VALUES (?)`, i+1)
	}
	for _, r := range metatest.LegacyAuditResources {
		if _, err := db.Exec(`INSERT INTO resources (key, id, type, body, version) VALUES (lower(?), ?, ?, ?, 1)`, r[0], r[0], r[1], []byte(r[2])); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	metatest.CheckLegacyAudit(t, s)
}
