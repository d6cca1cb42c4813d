package mgmt

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/resid"
)

// AuditLog is the audit trail of the registries (with the network denials).
type AuditLog interface {
	// Events returns a page of events (q.Registry's, or audit.ServerWide).
	Events(ctx context.Context, q audit.Query) (audit.Page, error)
}

// auditEvents answers GET .../registries/{r}/auditEvents?since=1h&type=push
// (since defaults to 24h; type is one of audit.Types or empty for all),
// newest first, in pages of $top (at most and by default audit.MaxPage)
// read from the database; a nextLink continues a page.
func (h *Handler) auditEvents(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "auditEvents (use GET)")
	}
	reg, err := h.getRegistry(r.Context(), id.ResourceGroup, id.Names[0])
	if err != nil {
		return err
	}
	q, err := auditQuery(r)
	if err != nil {
		return err
	}
	q.Registry = reg.Key
	return h.writeAuditPage(w, r, q)
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
	q, err := auditQuery(r)
	if err != nil {
		return err
	}
	q.Registry = audit.ServerWide
	return h.writeAuditPage(w, r, q)
}

// writeAuditPage answers one page of events.
func (h *Handler) writeAuditPage(w http.ResponseWriter, r *http.Request, q audit.Query) error {
	p, err := h.Audit.Events(r.Context(), q)
	if errors.Is(err, audit.ErrBadCursor) {
		return badRequest("InvalidSkipToken", "the $skiptoken is not one this server gave; follow the nextLink of the previous page as it is")
	}
	if err != nil {
		return err
	}
	if p.Events == nil {
		p.Events = []audit.Event{}
	}
	body := map[string]any{"value": p.Events}
	if p.Next != "" {
		body["nextLink"] = withSkipToken(r, p.Next)
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// ownerAction is an action only the Owner role permits among the built-in roles.
const ownerAction = "Microsoft.Authorization/roleAssignments/write"

// auditQuery reads since (default 24h), type, $top and $skiptoken.
func auditQuery(r *http.Request) (audit.Query, error) {
	v := r.URL.Query()
	since := 24 * time.Hour
	if s := v.Get("since"); s != "" {
		var err error
		if since, err = time.ParseDuration(s); err != nil || since <= 0 {
			return audit.Query{}, badRequest("InvalidParameter", "since=%q must be a duration such as 15m, 1h or 720h", s)
		}
	}
	typ := strings.ToLower(v.Get("type"))
	if !audit.ValidType(typ) {
		return audit.Query{}, badRequest("InvalidParameter", "type=%q must be one of %s", typ, strings.Join(audit.Types, ", "))
	}
	top := 0
	if s := v.Get("$top"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > audit.MaxPage {
			return audit.Query{}, badRequest("InvalidTopInQueryString", "$top must be a whole number from 1 to %d", audit.MaxPage)
		}
		top = n
	}
	return audit.Query{Since: time.Now().Add(-since), Type: typ, Top: top, After: v.Get("$skiptoken")}, nil
}
