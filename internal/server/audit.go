package server

import (
	"context"
	"time"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/network/netguard"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/store/meta"
)

// The audit trail's wiring: oci, regauth, authority, mgmt and gc record
// events through recorder; the trail (internal/audit) completes them with
// the request's source and the principal's name; auditView serves them to
// the management API a page at a time, with the denial log's records.

// recorder is the audit trail as the packages that record see it.
func (s *Server) recorder() audit.Recorder { return namingRecorder{s.auditLog} }

// namingRecorder also names the request's principal in its log line (the
// subject of a token issued, a sign-in's principal).
type namingRecorder struct{ log *audit.Log }

func (n namingRecorder) Record(ctx context.Context, e audit.Event) {
	if e.Outcome == audit.Success && e.Principal != "" && e.Type == audit.TypeSignIn {
		setPrincipal(ctx, e.Principal)
	}
	n.log.Record(ctx, e)
}

// requestSource is where a request came from: its client address and
// network path (netid) and its request ID (the observer's).
func requestSource(ctx context.Context) audit.Source {
	var src audit.Source
	if id, ok := netid.From(ctx); ok {
		if id.ClientIP.IsValid() {
			src.ClientIP = id.ClientIP.String()
		}
		src.NetworkPath = string(id.Path)
	}
	if st := stateOf(ctx); st != nil {
		src.RequestID = st.id
	}
	return src
}

func (s *Server) principalName(id string) string {
	if p, ok := s.dir.Get(id); ok {
		return p.Name
	}
	return ""
}

// denialEvent is a record of the denial log as an event of type denial.
func denialEvent(r *meta.AuditRecord) (audit.Event, error) {
	d, err := netguard.Decode(r)
	if err != nil {
		return audit.Event{}, err
	}
	return audit.Event{Time: d.LastSeen, Registry: d.Registry, Type: audit.TypeDenial, Outcome: audit.Failure,
		ClientIP: d.ClientIP, NetworkPath: d.Path, Reason: d.Reason, Count: d.Count,
		Detail: "route " + d.Route + denialWhere(d.Subnet, d.PrivateEndpoint) + ", first seen " + d.FirstSeen.Format(time.RFC3339)}, nil
}

// disagreementEvent is a shadow-mode disagreement as an event: the enforced
// decision applied (its outcome), the staged one is in the detail.
func disagreementEvent(r *meta.AuditRecord) (audit.Event, error) {
	d, err := netguard.Decode(r)
	if err != nil {
		return audit.Event{}, err
	}
	outcome := audit.Success
	if d.Decision == "deny" {
		outcome = audit.Failure
	}
	return audit.Event{Time: d.LastSeen, Registry: d.Registry, Type: netguard.DisagreementType, Outcome: outcome,
		ClientIP: d.ClientIP, NetworkPath: d.Path, Reason: d.Reason, Count: d.Count,
		Detail: "enforced " + d.Decision + ", staged settings " + d.StagedDecision + " (" + d.StagedReason + "); route " + d.Route +
			denialWhere(d.Subnet, d.PrivateEndpoint) + ", first seen " + d.FirstSeen.Format(time.RFC3339)}, nil
}

func denialWhere(subnet, pe string) string {
	switch {
	case subnet != "":
		return " from subnet " + subnet
	case pe != "":
		return " through private endpoint " + pe
	}
	return ""
}

// auditView is the management API's audit trail: the events, and the
// network denials, one query a page.
type auditView struct{ s *Server }

// Events: a registry's events are those of this registry, not of an
// earlier one of the same name: events carry the registry's UID (those
// written before registries had one, and the denial records, count from
// the registry's creation).
func (v auditView) Events(ctx context.Context, q audit.Query) (audit.Page, error) {
	if reg, ok := v.s.index.Lookup(q.Registry); ok && q.Registry != audit.ServerWide {
		q.RegistryID, q.Created = reg.UID, reg.CreatedAt
	}
	if q.After == "" && (q.Type == "" || q.Type == audit.TypeDenial) {
		if err := v.s.denials.Flush(ctx); err != nil {
			return audit.Page{}, err
		}
	}
	return v.s.auditLog.List(ctx, q)
}
