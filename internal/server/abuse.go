package server

import (
	"net/http"
	"time"

	"github.com/moat-registry/moat/internal/ratelimit"
)

// Defaults of the abuse limits (config limits.*, docs/security.md).
const (
	defaultTokenRequestsPerSecond     = 100
	defaultSignInFailures             = 20
	defaultSignInFailuresPerPrincipal = 60
	defaultUploadSessions             = 1000
	// signInFailureWindow is the time over which a failure allowance refills.
	signInFailureWindow = 5 * time.Minute
)

// limitSetting resolves a limit: 0 is the default, -1 is off (0 returned).
func limitSetting(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// signInGuard returns a wrapper putting a group of sign-in endpoints behind
// the rate limits. All groups share the limiters, so guessing through any of
// them counts against the same budget. 429s show in moat_http_requests_total.
func (s *Server) signInGuard() func(ratelimit.Endpoint, http.Handler) http.Handler {
	l := s.cfg.Limits
	perSec := limitSetting(l.TokenRequestsPerSecond, defaultTokenRequestsPerSecond)
	requests := ratelimit.New(perSec, time.Second, perSec*10)
	failures := ratelimit.New(limitSetting(l.SignInFailures, defaultSignInFailures), signInFailureWindow, 0)
	principal := ratelimit.New(limitSetting(l.SignInFailuresPerPrincipal, defaultSignInFailuresPerPrincipal), signInFailureWindow, 0)
	wrap := func(e ratelimit.Endpoint, h http.Handler) http.Handler {
		g := &ratelimit.Guard{Endpoint: e, Requests: requests, Failures: failures, PrincipalFailures: principal}
		return g.Wrap(h)
	}
	return wrap
}
