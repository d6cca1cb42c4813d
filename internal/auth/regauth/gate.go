package regauth

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/target"
)

// Authorize checks a data-plane request's bearer token against what the
// request needs (nil needs: any valid token, as for the /v2/ ping). It
// returns the token's subject, or an error carrying the 401 challenge or the
// 403 that the client should see.
func (s *Service) Authorize(r *http.Request, needs []token.Access) (string, error) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return "", s.challenge(r, needs, "", "authentication required: log in to the registry (moat acr login, or docker login)")
	}
	c, ok := s.verify(raw, s.audience(r))
	if !ok {
		return "", s.challenge(r, needs, "invalid_token", "the access token is invalid, expired or for another registry; log in again")
	}
	if !s.current(r.Context(), subject(c.Subject), c.Credential, c.Registry) {
		return "", s.challenge(r, needs, "invalid_token", "the access token was revoked: the password or secret it was issued for has changed or expired, or its user, service principal, admin user or token was disabled or deleted; log in again")
	}
	for _, n := range needs {
		if covers(c.Access, n, s.needRegistry(r, n)) {
			continue
		}
		// A signed-in principal that lacks the permission itself is denied;
		// otherwise the token just lacks the scope: challenge for it.
		if sub := subject(c.Subject); sub != "" && n.Type == "repository" {
			if reg, repo, ok := s.target(r, n.Name); ok {
				for _, act := range expand(n.Actions) {
					if s.may(r.Context(), sub, reg, repo, act) {
						continue
					}
					if _, _, isToken := sub.tokenOf(); isToken {
						return "", errcode.New(errcode.Denied, "requested access to the resource is denied: %s on %s needs %s in the token's scope map", act, n.Name, scopePermission[act])
					}
					return "", errcode.New(errcode.Denied, "requested access to the resource is denied: %s on %s needs a role that allows it, such as %s", act, n.Name, roleFor[act])
				}
			}
		}
		return "", s.challenge(r, needs, "insufficient_scope", "the access token does not grant "+target.FormatScope(n))
	}
	return c.Subject, nil
}

// MayList reports whether subject may list the repositories of reg (the
// path-style catalog lists only such registries).
func (s *Service) MayList(r *http.Request, sub string, reg *regindex.Registry) bool {
	return sub != "" && s.may(r.Context(), subject(sub), reg, "", "pull")
}

// challenge builds the 401 with the WWW-Authenticate header that tells the
// client where to get a token for needs.
func (s *Service) challenge(r *http.Request, needs []token.Access, errCode, msg string) error {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	h := fmt.Sprintf(`Bearer realm="%s://%s/oauth2/token",service="%s"`, scheme, r.Host, s.audience(r))
	if len(needs) > 0 {
		var sc []string
		for _, n := range needs {
			sc = append(sc, target.FormatScope(n))
		}
		h += fmt.Sprintf(`,scope="%s"`, strings.Join(sc, " "))
	}
	if errCode != "" {
		h += fmt.Sprintf(`,error="%s"`, errCode)
	}
	return errcode.New(errcode.Unauthorized, "%s", msg).WithHeader("WWW-Authenticate", h)
}

// verifiedCache remembers verified access tokens until they expire, so the
// signature is checked once per token rather than once per request.
type verifiedCache struct {
	m sync.Map // raw token -> *token.RegistryClaims
	n atomic.Int64
}

// maxCached bounds the cache; past it the cache starts over (rare, cheap).
const maxCached = 20000

func (s *Service) verify(raw, aud string) (*token.RegistryClaims, bool) {
	if v, ok := s.cache.m.Load(raw); ok {
		c := v.(*token.RegistryClaims)
		now := s.now()
		if c.ExpiresAt.After(now) && len(c.Audience) == 1 && c.Audience[0] == aud {
			return c, true
		}
		if !c.ExpiresAt.After(now) {
			s.cache.m.Delete(raw)
		}
		return nil, false
	}
	var c token.RegistryClaims
	if err := s.Keys.Verify(raw, &c, aud); err != nil || c.Kind != token.KindAccess || c.ExpiresAt == nil {
		return nil, false
	}
	if s.cache.n.Add(1) > maxCached {
		s.cache.m.Clear()
		s.cache.n.Store(0)
	}
	s.cache.m.Store(raw, &c)
	return &c, true
}

// needRegistry is the UID of the registry a needed (or requested) access is
// on: the registry a repository name resolves to, or for the catalog the
// registry of a host-style login server; "" when it names none (the
// path-style catalog, which lists each registry only if the caller may pull
// from it).
func (s *Service) needRegistry(r *http.Request, a token.Access) string {
	if a.Type == "repository" {
		if reg, _, ok := s.target(r, a.Name); ok {
			return reg.UID
		}
		return ""
	}
	if t, ok := target.Of(r); ok && t.HostStyle && t.Registry != nil {
		return t.Registry.UID
	}
	return ""
}

// roleFor names the least built-in role that grants a data action.
var roleFor = map[string]string{"pull": "AcrPull", "push": "AcrPush", "delete": "AcrDelete", "metadata_read": "AcrPull", "metadata_write": "AcrPush"}
