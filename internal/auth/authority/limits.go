package authority

import (
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/auth/ratelimit"
)

var _ ratelimit.Endpoint = (*Handler)(nil)

// codeLocked is Entra's "account is locked, too many sign-in attempts".
const codeLocked = 50053

// SignIn (ratelimit.Endpoint): the token endpoint's credential grants, named
// by username or client_id, and the managed-identity endpoint (its secret
// names no principal). Device-code polling is not a sign-in.
func (h *Handler) SignIn(r *http.Request) (string, bool) {
	if r.URL.Path == "/identity/msi/token" {
		return "", r.Header.Get("X-IDENTITY-HEADER") != ""
	}
	if !strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		return "", false
	}
	form := ratelimit.PeekForm(r)
	switch form.Get("grant_type") {
	case "password":
		return form.Get("username"), true
	case "client_credentials":
		if id, _, ok := basicClient(r); ok {
			return id, true
		}
		return form.Get("client_id"), true
	case "refresh_token":
		return "", true
	}
	return "", false
}

// Failed: bad credentials are 401 invalid_client or 400 invalid_grant; any
// 400 of a credential grant counts, so malformed guessing is throttled too.
func (h *Handler) Failed(_ *http.Request, status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusBadRequest
}

// TooMany answers in the OAuth error format; MSAL honours Retry-After.
func (h *Handler) TooMany(w http.ResponseWriter, r *http.Request, msg string) {
	h.writeError(w, r, newError(http.StatusTooManyRequests, "temporarily_unavailable", codeLocked, "%s", msg))
}
