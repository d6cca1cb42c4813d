package authority

import (
	"net/http"
	"strconv"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/auth/identity"
)

// SignIn is one sign-in at the authority: a token request of the token
// endpoint (after its form parsed) or of the managed identity endpoint
// (after it presented an instance secret). It never holds a secret.
type SignIn struct {
	// Grant is client_credentials, password, refresh_token or
	// managed_identity; "missing" or "unsupported" for a token request
	// without a grant type moat knows.
	Grant string
	// PrincipalID is the object ID of the principal signed in (empty when
	// the sign-in failed before a principal was known).
	PrincipalID string
	// PrincipalName is the principal's name (user principal name, appId);
	// on failure, the name presented (user name or client ID), if any.
	PrincipalName string
	// Resource is the audience asked for, when known.
	Resource string
	// Error is empty on success; else the OAuth error and its AADSTS code,
	// e.g. "invalid_grant AADSTS50126".
	Error string
}

// Failed reports whether the sign-in was refused.
func (s SignIn) Failed() bool { return s.Error != "" }

// SetRecorder sets where sign-ins are recorded (nil: nowhere): the audit
// trail's server-wide events of type signin. Call it before the handler
// serves.
func (h *Handler) SetRecorder(rec audit.Recorder) { h.rec = rec }

// record writes a sign-in to the audit trail: the grant, the principal (or
// the name presented on failure) and the resource asked for.
func (h *Handler) record(r *http.Request, ev SignIn) {
	e := audit.Event{Registry: audit.ServerWide, Type: audit.TypeSignIn, Outcome: audit.Success, Grant: ev.Grant,
		Principal: ev.PrincipalID, PrincipalName: ev.PrincipalName, Detail: "identity authority"}
	if e.Principal == "" {
		e.Principal = ev.PrincipalName
	}
	if ev.Resource != "" {
		e.Scopes = []string{ev.Resource}
	}
	if ev.Failed() {
		e.Outcome = audit.Failure
		e.Detail += ": " + audit.OneLine(ev.Error)
	}
	h.rec.Record(r.Context(), e)
}

const maxPresentedName = 128

// recordToken reports a token endpoint request.
func (h *Handler) recordToken(req *tokenRequest, grant string, e *oauthError) {
	if h.rec == nil {
		return
	}
	ev := SignIn{Resource: req.resource}
	switch grant {
	case "client_credentials", "password", "refresh_token":
		ev.Grant = grant
	case "":
		ev.Grant = "missing"
	default:
		ev.Grant = "unsupported"
	}
	if p := req.principal; p != nil {
		ev.PrincipalID, ev.PrincipalName = p.ID, p.Name
	}
	if e != nil {
		ev.Error = e.Code
		if len(e.Codes) > 0 {
			ev.Error += " AADSTS" + strconv.Itoa(e.Codes[0])
		}
		if ev.PrincipalName == "" {
			ev.PrincipalName = presentedName(req, grant)
		}
	}
	h.record(req.r, ev)
}

// presentedName is the user name or client ID a failed request presented.
func presentedName(req *tokenRequest, grant string) string {
	name := req.get("client_id")
	if grant == "password" && req.get("username") != "" {
		name = req.get("username")
	} else if name == "" {
		name, _, _ = req.r.BasicAuth()
	}
	return clipName(name)
}

func clipName(s string) string {
	if len(s) > maxPresentedName {
		return s[:maxPresentedName]
	}
	return s
}

// recordMSI reports a managed identity token request.
func (h *Handler) recordMSI(r *http.Request, p *identity.Principal, resource, errCode string) {
	if h.rec == nil {
		return
	}
	ev := SignIn{Grant: "managed_identity", Resource: resource, Error: errCode}
	if p != nil {
		ev.PrincipalID, ev.PrincipalName = p.ID, p.Name
	} else {
		q := r.URL.Query()
		for _, k := range []string{"client_id", "object_id", "principal_id", "mi_res_id", "msi_res_id"} {
			if v := q.Get(k); v != "" {
				ev.PrincipalName = clipName(v)
				break
			}
		}
	}
	h.record(r, ev)
}
