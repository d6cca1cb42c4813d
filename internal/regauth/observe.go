package regauth

import (
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/token"
)

// Observer is told the outcome of every token request (metrics, audit).
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

// describe completes an event after the request was served.
func (s *Service) describe(r *http.Request, ev *TokenEvent, err error) {
	ev.Err = err
	switch {
	case r.URL.Path == "/oauth2/exchange":
		ev.Endpoint, ev.Grant = "exchange", "access_token"
	case r.Method == http.MethodGet:
		ev.Endpoint = "token"
		if user, _, ok := r.BasicAuth(); ok {
			ev.Grant, ev.User = "basic", user
			if user == ZeroUser {
				ev.Grant, ev.User = "refresh_token", ""
			}
		} else {
			ev.Grant = "anonymous"
		}
		ev.Requested = r.URL.Query()["scope"]
	default:
		ev.Endpoint = "token"
		switch g := r.PostForm.Get("grant_type"); g {
		case "refresh_token", "password":
			ev.Grant = g
		default:
			ev.Grant = "invalid"
		}
		if ev.Grant == "password" {
			ev.User = r.PostForm.Get("username")
		}
		ev.Requested = strings.Fields(strings.Join(r.PostForm["scope"], " "))
	}
	seen := map[string]bool{}
	add := func(key string) {
		if key != "" && !seen[key] {
			seen[key] = true
			ev.Registries = append(ev.Registries, key)
		}
	}
	for _, sc := range ev.Requested {
		for one := range strings.FieldsSeq(sc) {
			if a, ok := ParseScope(one); ok && a.Type == "repository" {
				if reg, _, ok := s.target(r, a.Name); ok {
					add(reg.Key)
				}
			}
		}
	}
	if len(ev.Registries) == 0 {
		svc := r.URL.Query().Get("service")
		if svc == "" && r.PostForm != nil {
			svc = r.PostForm.Get("service")
		}
		if i := strings.LastIndexByte(svc, '/'); i >= 0 {
			if reg, ok := s.Registries.Lookup(strings.ToLower(svc[i+1:])); ok {
				add(reg.Key)
			}
		}
		if name, ok := s.Addressing.HostRegistry(r.Host); ok {
			if reg, ok := s.Registries.Lookup(strings.ToLower(name)); ok {
				add(reg.Key)
			}
		}
	}
}
