package regauth

import (
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/identity"
	"github.com/moat-registry/moat/internal/policy"
	"github.com/moat-registry/moat/internal/target"
	"github.com/moat-registry/moat/internal/token"
)

// Bypasser returns the verified managed identity a request speaks for, for
// the trusted-service bypass of the network rules. It reads exactly the
// credential the request's target says the request carries, the one its
// handler will check: at the token endpoints the token request's credential
// (a refresh token, or an identity token being exchanged; passwords are not
// considered: managed identities have none), elsewhere a bearer access token.
func (s *Service) Bypasser(r *http.Request, t *target.Target) (*policy.Principal, bool) {
	sub, ok := s.credentialSubject(r, t)
	if !ok {
		return nil, false
	}
	p, ok := s.Dir.Get(sub)
	if !ok || p.Kind != identity.KindManagedIdentity {
		return nil, false
	}
	return &policy.Principal{SystemAssigned: p.Assignment == identity.SystemAssigned, ServiceType: p.OwnerType}, true
}

func (s *Service) credentialSubject(r *http.Request, t *target.Target) (string, bool) {
	if t.Token == nil {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return "", false
		}
		if c, ok := s.verify(raw, t.Audience); ok {
			return c.Subject, c.Subject != ""
		}
		return "", false
	}
	switch t.Token.Grant {
	case target.GrantRefresh:
		sub, err := s.fromRefresh(r, t.Token.Secret)
		return string(sub), err == nil && sub != ""
	case target.GrantExchange:
		var c token.IdentityClaims
		if err := s.Keys.Verify(t.Token.Secret, &c); err == nil && c.Kind == token.KindIdentity && c.TenantID == s.Dir.Tenant && managementAudience(&c, r) {
			return c.ObjectID, c.ObjectID != ""
		}
	}
	return "", false
}

func managementAudience(c *token.IdentityClaims, r *http.Request) bool {
	aud, _ := c.GetAudience()
	return token.ManagementAudience(aud, r.Host)
}
