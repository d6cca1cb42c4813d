package mgmt

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/resid"
)

// AuditLog is the audit trail of the registries (with the network denials).
type AuditLog interface {
	Events(ctx context.Context, regKey string, since time.Time, typ string) ([]audit.Event, error)
}

// auditEvents answers GET .../registries/{r}/auditEvents?since=1h&type=push
// (since defaults to 24h; type is one of audit.Types or empty for all).
func (h *Handler) auditEvents(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "auditEvents (use GET)")
	}
	reg, err := h.getRegistry(r.Context(), id.ResourceGroup, id.Names[0])
	if err != nil {
		return err
	}
	since, typ, err := auditQuery(r)
	if err != nil {
		return err
	}
	evs, err := h.Audit.Events(r.Context(), reg.Key, time.Now().Add(-since), typ)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": evs})
	return nil
}

// serverAuditEvents answers GET /subscriptions/{s}/providers/Microsoft.ContainerRegistry/auditEvents?since=1h&type=signin:
// the server-wide events (those that name no registry: sign-ins at the
// identity authority, failed registry token requests without a scope). Only
// an Owner of the subscription may read them.
func (h *Handler) serverAuditEvents(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "auditEvents (use GET)")
	}
	if id.ResourceGroup != "" {
		return armErr(http.StatusNotFound, "InvalidResourceType",
			"server-wide audit events are served at /subscriptions/%s/providers/Microsoft.ContainerRegistry/auditEvents, outside resource groups; a registry's are under the registry", h.Subscription)
	}
	since, typ, err := auditQuery(r)
	if err != nil {
		return err
	}
	evs, err := h.Audit.Events(r.Context(), audit.ServerWide, time.Now().Add(-since), typ)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": evs})
	return nil
}

// ownerAction is an action only the Owner role permits among the built-in roles.
const ownerAction = "Microsoft.Authorization/roleAssignments/write"

// auditQuery reads since (default 24h) and type.
func auditQuery(r *http.Request) (time.Duration, string, error) {
	since := 24 * time.Hour
	if s := r.URL.Query().Get("since"); s != "" {
		var err error
		if since, err = time.ParseDuration(s); err != nil || since <= 0 {
			return 0, "", badRequest("InvalidParameter", "since=%q must be a duration such as 15m, 1h or 720h", s)
		}
	}
	typ := strings.ToLower(r.URL.Query().Get("type"))
	if !audit.ValidType(typ) {
		return 0, "", badRequest("InvalidParameter", "type=%q must be one of %s", typ, strings.Join(audit.Types, ", "))
	}
	return since, typ, nil
}
