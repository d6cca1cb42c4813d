package regauth

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/target"
)

// Mint signs an access token for principal on host with exactly the given
// scopes, without consulting roles: registry import uses it after the
// management API has checked the caller's pull and push permissions. The
// token still passes the network gate and the data plane's checks like any.
func (s *Service) Mint(host, principal string, scopes []string) (string, error) {
	// A request to host made up in-process, resolved like any: the scopes'
	// registries and the audience come from the same addressing.
	r := target.Attach(&http.Request{Method: http.MethodGet, Host: host, URL: &url.URL{Path: "/v2/"}, Header: http.Header{}}, s.Index.Load())
	var access []token.Access
	for _, sc := range scopes {
		a, ok := target.ParseScope(sc)
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
