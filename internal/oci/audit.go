package oci

import (
	"net/http"
	"strconv"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/oci/errcode"
)

// recordManifest records a manifest pull (GET), push or delete in the audit
// trail, with its outcome: err is what the request is answered with.
func (h *Handler) recordManifest(r *http.Request, w http.ResponseWriter, t target, subject string, err error) {
	if h.Audit == nil {
		return
	}
	e := audit.Event{Registry: t.reg.Key, Outcome: audit.Success, Principal: subject, Repository: t.repo, Reference: t.req.Ref}
	switch r.Method {
	case http.MethodGet:
		e.Type = audit.TypePull
	case http.MethodPut:
		e.Type = audit.TypePush
	case http.MethodDelete:
		e.Type = audit.TypeDelete
	default:
		return
	}
	if err != nil {
		status := errcode.Status(err)
		if (status == http.StatusUnauthorized || status == http.StatusForbidden) && subject == "" {
			return // the anonymous first try of every client, before it fetches a token
		}
		e.Outcome, e.Detail = audit.Failure, "HTTP "+strconv.Itoa(status)
	} else {
		e.Digest = w.Header().Get("Docker-Content-Digest")
	}
	h.Audit.Record(r.Context(), e)
}
