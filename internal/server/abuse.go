package server

import (
	"net/http"
	"time"

	"github.com/moat-registry/moat/internal/auth/ratelimit"
)

// signInFailureWindow is the time over which a failure allowance refills.
const signInFailureWindow = 5 * time.Minute

// signInGuard returns a wrapper putting a group of sign-in endpoints behind
// the rate limits. All groups share the limiters, so guessing through any of
// them counts against the same budget. 429s show in moat_http_requests_total.
func (s *Server) signInGuard() func(ratelimit.Endpoint, http.Handler) http.Handler {
	l := s.cfg.Limits
	requests := ratelimit.New(l.TokenRequestsPerSecond, time.Second, l.TokenRequestsPerSecond*10)
	failures := ratelimit.New(l.SignInFailures, signInFailureWindow, 0)
	principal := ratelimit.New(l.SignInFailuresPerPrincipal, signInFailureWindow, 0)
	wrap := func(e ratelimit.Endpoint, h http.Handler) http.Handler {
		g := &ratelimit.Guard{Endpoint: e, Requests: requests, Failures: failures, PrincipalFailures: principal}
		return g.Wrap(h)
	}
	return wrap
}
