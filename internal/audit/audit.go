// Package audit is the audit trail: who signed in, got tokens, pushed,
// pulled or deleted content, changed a registry's network settings, and
// what garbage collection deleted. The packages where these happen (oci,
// regauth, authority, mgmt, gc) record them through a Recorder given at wiring, as
// distribution's notifications listener is; the Log writes them to the
// metadata store's audit table asynchronously through a bounded buffer, so
// a request never waits on the database.
//
// Growth is bounded (docs/operations.md): anonymous requests' events are
// counted into one aggregate per source, kind and minute; each client
// address has a rate of events into the trail; the rest is counted in
// metrics, never written.
package audit

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Event types.
const (
	TypeSignIn = "signin"
	TypeToken  = "token"
	TypePush   = "push"
	TypePull   = "pull"
	TypeDelete = "delete"
	TypeConfig = "config"
	TypeDenial = "denial"
	TypeGC     = "gc"
)

// Types are the event types a query may filter on.
var Types = []string{TypeSignIn, TypeToken, TypePush, TypePull, TypeDelete, TypeConfig, TypeDenial, TypeGC}

// ValidType reports whether t is an event type ("" means all).
func ValidType(t string) bool {
	if t == "" {
		return true
	}
	for _, x := range Types {
		if x == t {
			return true
		}
	}
	return false
}

// Outcomes.
const (
	Success = "success"
	Failure = "failure"
)

// ServerWide is the registry key of events that name no registry (a sign-in
// at the token endpoint without a scope or service).
const ServerWide = "_server"

// Event is one audit record. It never holds a secret: no passwords, tokens
// or Authorization headers.
type Event struct {
	Time      time.Time `json:"time"`
	Registry  string    `json:"registry"`
	Type      string    `json:"type"`
	Outcome   string    `json:"outcome"`
	Principal string    `json:"principal,omitempty"` // object ID, registry-admin:<r>, or the user name presented
	// PrincipalName is the principal's name when known.
	PrincipalName string   `json:"principalName,omitempty"`
	ClientIP      string   `json:"clientIp,omitempty"`
	NetworkPath   string   `json:"networkPath,omitempty"`
	RequestID     string   `json:"requestId,omitempty"`
	Repository    string   `json:"repository,omitempty"`
	Reference     string   `json:"reference,omitempty"`
	Digest        string   `json:"digest,omitempty"`
	Grant         string   `json:"grant,omitempty"`
	Scopes        []string `json:"scopes,omitempty"`
	Detail        string   `json:"detail,omitempty"`
	// Before and After are a configuration change's network settings.
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	// Count is how many events an aggregate stands for (network denials,
	// anonymous requests: see Log), from FirstSeen to Time; Reason is a
	// denial's.
	Count     int64      `json:"count,omitempty"`
	FirstSeen *time.Time `json:"firstSeen,omitempty"`
	Reason    string     `json:"reason,omitempty"`

	// RegistryID is the registry's immutable ID (meta.Registry.UID): the
	// events of a deleted registry are not those of a new one of the same
	// name. Record fills it in (Options.RegistryID).
	RegistryID string `json:"registryId,omitempty"`
}

// Recorder receives events where they happen. Record never blocks; ctx is
// the request's (the client's address and the request ID come from it), or
// any context for events of no request.
type Recorder interface {
	Record(ctx context.Context, e Event)
}

// Source is what an event's request says about where it came from.
type Source struct {
	ClientIP, NetworkPath, RequestID string
}

// OneLine is a message (an error's) as an event's detail: one line of at
// most 300 bytes.
func OneLine(s string) string {
	if len(s) > 300 {
		s = s[:300]
	}
	return strings.Join(strings.Fields(s), " ")
}
