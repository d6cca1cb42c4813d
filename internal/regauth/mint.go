package regauth

import (
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/token"
)

// Mint signs an access token for principal on host with exactly the given
// scopes, without consulting roles: registry import uses it after the
// management API has checked the caller's pull and push permissions. The
// token still passes the network gate and the data plane's checks like any.
func (s *Service) Mint(host, principal string, scopes []string) (string, error) {
	r := &http.Request{Host: host}
	var access []token.Access
	for _, sc := range scopes {
		a, ok := ParseScope(sc)
		if !ok || a.Type != "repository" {
			continue
		}
		if reg, _, ok := s.target(r, a.Name); ok {
			access = append(access, token.Access{Type: a.Type, Name: a.Name, Actions: expand(a.Actions), Registry: reg.UID})
		}
	}
	c := &caller{sub: subject(strings.ToLower(principal))}
	if p, ok := s.Dir.Get(principal); ok {
		c.cred = p.CredentialStamp()
	}
	raw, _, err := s.sign(r, c, token.KindAccess, access, s.Lifetimes.access())
	return raw, err
}
