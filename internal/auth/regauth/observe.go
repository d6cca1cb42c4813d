package regauth

import (
	"net/http"
	"slices"

	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/target"
)

// Observer is told the outcome of every token request (metrics).
type Observer interface {
	TokenRequest(r *http.Request, e TokenEvent)
}

// TokenEvent describes a token request. It never holds a secret.
type TokenEvent struct {
	// Endpoint is "token" or "exchange".
	Endpoint string
	// Grant is how the client authenticated: basic, password, refresh_token,
	// access_token (an identity-token exchange), anonymous or invalid.
	Grant string
	// User is the user name presented (basic or password grants).
	User string
	// Subject is who the issued token speaks for ("" on failure or anonymous).
	Subject string
	// Requested are the scopes asked for; Granted what was granted.
	Requested []string
	Granted   []token.Access
	// Registries are the keys of the registries the request names (scopes,
	// service, host).
	Registries []string
	Err        error
}

// SignIn reports whether the grant presented credentials (not a refresh token).
func (e TokenEvent) SignIn() bool {
	return e.Grant == "basic" || e.Grant == "password" || e.Grant == "access_token"
}

// describe completes an event after the request was served, from the
// request's target: the grant and user it presented, the scopes it asked
// for, and the registries it names (those of its scopes, else its service's
// and Host's).
func (s *Service) describe(r *http.Request, t *target.Target, ev *TokenEvent, err error) {
	ev.Err = err
	tr := t.Token
	ev.Endpoint, ev.Grant, ev.Requested = "token", tr.Grant, tr.Scopes
	switch {
	case t.Kind == target.KindExchange:
		ev.Endpoint, ev.Grant = "exchange", target.GrantExchange
	case tr.Grant == target.GrantBasic || tr.Grant == target.GrantPassword:
		ev.User = tr.User
	}
	for _, a := range tr.Access {
		if a.Type != "repository" {
			continue
		}
		if reg, _, _ := t.Split(a.Name); reg != nil && !slices.Contains(ev.Registries, reg.Key) {
			ev.Registries = append(ev.Registries, reg.Key)
		}
	}
	if len(ev.Registries) == 0 {
		for _, reg := range t.Registries {
			ev.Registries = append(ev.Registries, reg.Key)
		}
	}
}
