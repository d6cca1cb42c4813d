package regauth

import (
	"net/http"

	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/ratelimit"
)

// SignIns describes the token endpoints to the rate limiter
// (ratelimit.Endpoint): which requests sign in, as whom, and how they fail.
type SignIns struct{}

var _ ratelimit.Endpoint = SignIns{}

// SignIn: Basic credentials on /oauth2/token, a password or refresh-token
// form, or an exchange. Refresh tokens name no principal (the ZeroUser name
// is everyone's), so they count per address only.
func (SignIns) SignIn(r *http.Request) (string, bool) {
	if r.URL.Path != "/oauth2/token" && r.URL.Path != "/oauth2/exchange" {
		return "", false
	}
	if user, _, ok := r.BasicAuth(); ok {
		if user == ZeroUser {
			return "", true
		}
		return user, true
	}
	form := ratelimit.PeekForm(r)
	switch {
	case form.Get("grant_type") == "password":
		return form.Get("username"), true
	case form.Has("refresh_token"), form.Has("access_token"):
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
