package meta

import (
	"context"
	"time"
)

// AuditRecord is one row of the audit trail: an event, or an aggregate of
// like events, of one registry. The audit and netguard packages own its Body
// (JSON); the store owns Seq and keeps the columns that queries select on.
type AuditRecord struct {
	// Seq is given by the store; with Time it is the paging key.
	Seq int64
	// Registry is the registry's key, or "_server" for server-wide events.
	Registry string
	// RegistryID is the registry's UID ("" for server-wide and older events).
	RegistryID string
	Type       string
	// Time is when the event happened (an aggregate's last event).
	Time time.Time
	// Key names an aggregate (empty for a single event). Appending a record
	// whose Key is stored adds its Count to the stored record's, keeps the
	// earliest First and the latest Time, and takes its Body.
	Key   string
	Count int64     // events in an aggregate (0 for a single event)
	First time.Time // an aggregate's first event
	Body  []byte
}

// AuditCursor is where a page of the audit trail ends: its last record's
// Time and Seq. The next page starts after it.
type AuditCursor struct {
	Time time.Time
	Seq  int64
}

// AuditQuery selects a registry's records, newest first.
type AuditQuery struct {
	Registry string
	// RegistryID, when set, keeps the records of that registry UID and
	// those without a UID since Created (written before registries had
	// one): a registry's trail is not that of an earlier one of its name.
	RegistryID string
	Created    time.Time
	Since      time.Time // records at or after it
	Type       string    // "" for every type
	After      *AuditCursor
	Limit      int
}

// AuditTrail stores the audit trail. Queries and pruning run in the
// database: none of them holds more than a page (or a batch) in memory.
type AuditTrail interface {
	// AppendAudit writes records in one transaction (aggregates merged
	// with the stored ones of the same Key).
	AppendAudit(ctx context.Context, recs []*AuditRecord) error
	// ListAudit returns up to q.Limit records, by Time and then Seq, newest first.
	ListAudit(ctx context.Context, q AuditQuery) ([]*AuditRecord, error)
	// PruneAudit deletes up to limit records of a type ("": any) whose Time
	// is before before, and returns how many it deleted.
	PruneAudit(ctx context.Context, typ string, before time.Time, limit int) (int, error)
}
