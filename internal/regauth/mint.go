package regauth

import (
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/target"
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
		a, ok := target.ParseScope(sc)
		if !ok || a.Type != "repository" {
			continue
		}
		access = append(access, token.Access{Type: a.Type, Name: a.Name, Actions: expand(a.Actions)})
	}
	return s.sign(r, subject(strings.ToLower(principal)), token.KindAccess, access, AccessTTL)
}
