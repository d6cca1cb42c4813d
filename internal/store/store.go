// Package store is what moat's two stores share: the metadata store (meta)
// and the blob store (blob) report a failure the same way, and one policy
// says what a client is told about it.
//
// A store call ends in one of these ways:
//
//   - an answer: nil, one of the store's sentinel errors (not found, already
//     exists, ...), or the caller's context ended. Nothing failed.
//   - Unavailable: the backend cannot be used for the moment (a database
//     restart or lost connection, an S3 outage, a disk remounted read-only).
//     Nothing was decided; the request may succeed when retried. Clients get
//     503 with Retry-After: RetryAfter, never 500.
//   - Full: the disk or quota under the store is full. Clients get 507.
//   - any other error: a failure of the server, logged; clients get 500.
//
// Each store marks its unavailability with ErrUnavailable (the blob store at
// the source; the metadata store through its Classifier, which the
// instrumenting wrapper meta.Instrument consults). Failures other than
// answers are counted by store and method (Errors).
package store

import (
	"errors"
	"strconv"
	"syscall"
	"time"
)

// ErrUnavailable marks a failure to use a store's backend for the moment
// (errors.Is). Wrap the backend's error with it: fmt.Errorf("%w: %w", ...).
var ErrUnavailable = errors.New("storage unavailable")

// RetryAfter is the one Retry-After of every answer to a request that failed
// because a store was unavailable, on the data plane and the management API
// alike: long enough for a database restart or a connection pool to recover,
// short enough that a retrying client barely notices.
const RetryAfter = 5 * time.Second

// RetryAfterHeader is RetryAfter as a Retry-After header's value (seconds).
var RetryAfterHeader = strconv.Itoa(int(RetryAfter / time.Second))

// Classifier is implemented by a store that can tell an unreachable backend
// from other failures (PostgreSQL: a lost connection, a shutdown).
type Classifier interface {
	Unavailable(err error) bool
}

// Fault is what a store failure means for the request that met it.
type Fault int

const (
	// Failed: nothing the client can do about it (500).
	Failed Fault = iota
	// Unavailable: retry after RetryAfter (503).
	Unavailable
	// Full: the storage is full; retry after the operator frees space (507).
	Full
)

// FaultOf classifies a failed store call's error (not an answer: the caller
// has mapped not found and the like already).
func FaultOf(err error) Fault {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return Full
	case errors.Is(err, ErrUnavailable), errors.Is(err, syscall.EROFS):
		return Unavailable
	}
	return Failed
}
