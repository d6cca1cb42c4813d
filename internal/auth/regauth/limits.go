package regauth

import (
	"net/http"

	"github.com/moat-registry/moat/internal/auth/ratelimit"
	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/target"
)

// SignIns describes the token endpoints to the rate limiter
// (ratelimit.Endpoint): which requests sign in, as whom, and how they fail.
type SignIns struct{}

var _ ratelimit.Endpoint = SignIns{}

// SignIn: a token request that presents a credential, read from the
// request's target: the very credential the token service then checks (one
// parse per request, so a second credential cannot dodge the per-name
// limit). Refresh and identity tokens name no principal (the ZeroUser name
// is everyone's), so they count per address only. A request whose target
// could not be read is no sign-in: it is answered 400 before any check.
func (SignIns) SignIn(r *http.Request) (string, bool) {
	t, ok := target.Of(r)
	if !ok || t.Token == nil {
		return "", false
	}
	switch t.Token.Grant {
	case target.GrantBasic, target.GrantPassword:
		return t.Token.User, true
	case target.GrantRefresh, target.GrantExchange:
		return "", true
	}
	return "", false
}

// Failed: the token endpoints answer bad credentials with 401.
func (SignIns) Failed(_ *http.Request, status int) bool { return status == http.StatusUnauthorized }

// TooMany answers in the registry error format.
func (SignIns) TooMany(w http.ResponseWriter, r *http.Request, msg string) {
	errcode.Write(w, r, errcode.New(errcode.TooManyRequests, "%s", msg))
}
