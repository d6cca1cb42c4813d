// Package sqlprops is the SQL of meta.Properties and of the attribute checks
// that guard writes, shared by the SQLite and PostgreSQL stores. Statements
// use $n placeholders and syntax that both accept; Dialect holds what differs.
//
// Locking (PostgreSQL; SQLite has one writer, so every transaction is
// serial): every transaction that checks or changes attributes first locks
// the repository row — pushes and deletes exclusively (bumpGen's upsert, or
// Dialect.Update), attribute changes of tags and manifests and blob links
// shared (Dialect.Share) — so a check and the write it guards never
// interleave with a change of the attributes they read.
package sqlprops

import (
	"context"
	"errors"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
)

// Querier runs statements in one transaction (or, for reads, on the pool).
type Querier interface {
	Exec(ctx context.Context, q string, args ...any) (int64, error)
	Query(ctx context.Context, q string, args ...any) (Rows, error)
	// QueryRow's Scan returns meta.ErrNotFound when there is no row.
	QueryRow(ctx context.Context, q string, args ...any) Row
}

// Rows is a result set.
type Rows interface {
	meta.Rows
	Close()
}

// Row is a single-row result.
type Row interface{ Scan(dest ...any) error }

// Dialect is what the two SQL stores do differently here.
type Dialect struct {
	// Share and Update are the row-lock clauses of the SELECTs that read
	// a repository's attributes before a write (PostgreSQL: " FOR SHARE",
	// " FOR UPDATE"; SQLite: none).
	Share, Update string
}

// attrCols are the attribute columns in the order scanAttrs reads.
const attrCols = `delete_enabled, write_enabled, list_enabled, read_enabled`

func attrDest(a *meta.Attributes) []any {
	return []any{&a.DeleteEnabled, &a.WriteEnabled, &a.ListEnabled, &a.ReadEnabled}
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// repoAttrs reads a repository's attributes with the row lock clause lock.
func repoAttrs(ctx context.Context, q Querier, lock, reg, repo string) (meta.Attributes, error) {
	var a meta.Attributes
	err := q.QueryRow(ctx, `SELECT `+attrCols+` FROM repositories WHERE reg = $1 AND name = $2`+lock, reg, repo).Scan(attrDest(&a)...)
	return a, err
}

// RepoWritable refuses a write to a repository whose writeEnabled is false
// (a repository not there yet takes writes). Blob links check it.
func RepoWritable(ctx context.Context, q Querier, d Dialect, reg, repo string) error {
	a, err := repoAttrs(ctx, q, d.Share, reg, repo)
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	return meta.Place(meta.Locked(meta.KindRepository, repo, a, true), reg, repo)
}

// touchRepo records a change of the repository's content.
func touchRepo(ctx context.Context, q Querier, reg, repo string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE repositories SET updated_time = $3 WHERE reg = $1 AND name = $2`, reg, repo, nanos(now))
	return err
}
