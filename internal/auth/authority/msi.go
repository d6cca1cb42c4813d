package authority

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/auth/identity"
)

// msiAPIVersion is the App Service managed-identity protocol version that
// azidentity (through MSAL's managedidentity package) speaks.
const msiAPIVersion = "2019-08-01"

// msiError is a managed-identity endpoint error: OAuth-style fields plus the
// statusCode/message pair App Service's endpoint returns.
type msiError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
	StatusCode  int    `json:"statusCode"`
	Message     string `json:"message"`
}

func (h *Handler) msiFail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	logRefusal(r, "msi", code)
	correlationID(w, r)
	writeJSON(w, status, &msiError{Code: code, Description: msg, StatusCode: status, Message: msg})
}

// msiToken is GET /identity/msi/token, shaped like App Service's identity
// endpoint: a service instance started with IDENTITY_ENDPOINT (this URL) and
// IDENTITY_HEADER (its instance secret) gets tokens for its system-assigned
// identity, or for a user-assigned identity attached to it.
func (h *Handler) msiToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		h.msiFail(w, r, http.StatusMethodNotAllowed, "invalid_request", "Use GET "+r.URL.Path+"?api-version="+msiAPIVersion+"&resource=<resource> with the X-IDENTITY-HEADER header.")
		return
	}
	b := base(r)
	if b == "" {
		h.msiFail(w, r, http.StatusBadRequest, "invalid_request", "The Host header is not a valid host name; connect using the server's DNS name or IP address.")
		return
	}
	secret := r.Header.Get("X-IDENTITY-HEADER")
	if secret == "" {
		h.msiFail(w, r, http.StatusBadRequest, "invalid_request",
			"The X-IDENTITY-HEADER header is required: send the instance secret moat gave the service instance (its IDENTITY_HEADER environment variable).")
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != msiAPIVersion {
		h.msiFail(w, r, http.StatusBadRequest, "invalid_request",
			"The api-version query parameter must be "+msiAPIVersion+" (got '"+clip(v)+"').")
		return
	}
	resource := strings.TrimSuffix(q.Get("resource"), "/.default")
	if !validResource(resource) {
		h.msiFail(w, r, http.StatusBadRequest, "invalid_request",
			"The resource query parameter is required: the audience of the token, e.g. https://management.moat.")
		return
	}
	// The instance secret alone must be valid, whatever identity is asked for.
	system, ok := h.dir.ByInstanceSecret(secret, "")
	if !ok {
		h.recordMSI(r, nil, resource, "invalid_client")
		h.msiFail(w, r, http.StatusUnauthorized, "invalid_client",
			"The X-IDENTITY-HEADER value is not the instance secret of any service instance. Use the IDENTITY_HEADER value moat gave the instance; it changes when the instance is re-created.")
		return
	}
	p, msg := h.selectIdentity(secret, system, q)
	if p == nil {
		h.recordMSI(r, nil, resource, "invalid_request")
		h.msiFail(w, r, http.StatusBadRequest, "invalid_request", msg)
		return
	}
	now := h.now()
	at, _, err := h.signAccess(h.issuer(b), resource, now, time.Time{}, p, func(c *accessClaims) {
		c.AppID, c.AZP, c.AppIDACR, c.IDType = p.Name, p.Name, "2", "app"
		c.MIResourceID = p.Owner
	})
	if err != nil {
		h.recordMSI(r, p, resource, "server_error")
		h.msiFail(w, r, http.StatusInternalServerError, "server_error", "moat could not sign the token; see the server log.")
		return
	}
	h.recordMSI(r, p, resource, "")
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": at,
		"expires_on":   strconv.FormatInt(now.Add(AccessTokenLifetime).Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    p.Name,
	})
}

// selectIdentity picks the identity the request names: the instance's
// system-assigned one, or a user-assigned one attached to the instance, named
// by client_id, object_id/principal_id or mi_res_id/msi_res_id.
func (h *Handler) selectIdentity(secret string, system *identity.Principal, q map[string][]string) (*identity.Principal, string) {
	var key, val string
	for _, k := range []string{"client_id", "object_id", "principal_id", "mi_res_id", "msi_res_id"} {
		if v := first(q[k]); v != "" {
			if key != "" {
				return nil, "Name the user-assigned identity with one of client_id, object_id or mi_res_id, not several."
			}
			key, val = k, v
		}
	}
	if key == "" {
		return system, ""
	}
	notAttached := "No managed identity with " + key + " '" + clip(val) + "' is assigned to this service instance. Attach the user-assigned identity to the instance, or leave out " + key + " to use the instance's system-assigned identity."
	clientID := val
	switch key {
	case "object_id", "principal_id":
		p, ok := h.dir.Get(val)
		if !ok || p.Kind != identity.KindManagedIdentity {
			return nil, notAttached
		}
		clientID = p.Name
	case "mi_res_id", "msi_res_id":
		clientID = ""
		for _, p := range h.dir.List(identity.KindManagedIdentity) {
			if p.Assignment == identity.UserAssigned && p.Owner != "" && strings.EqualFold(p.Owner, val) {
				clientID = p.Name
				break
			}
		}
		if clientID == "" {
			return nil, notAttached
		}
	}
	if strings.EqualFold(clientID, system.Name) {
		return system, ""
	}
	p, ok := h.dir.ByInstanceSecret(secret, clientID)
	if !ok {
		return nil, notAttached
	}
	return p, ""
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
