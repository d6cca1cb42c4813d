package regauth

import (
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/target"
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
		if c, ok := s.verify(raw, t.Audience); ok && s.current(r.Context(), subject(c.Subject), c.Credential, c.Registry) {
			return c.Subject, c.Subject != ""
		}
		return "", false
	}
	switch t.Token.Grant {
	case target.GrantRefresh:
		return refreshSubject(s.fromRefresh(r, t.Token.Secret))
	case target.GrantExchange:
		var c token.IdentityClaims
		if err := s.Keys.Verify(t.Token.Secret, &c); err == nil && c.Kind == token.KindIdentity && c.TenantID == s.Dir.Tenant && s.managementAudience(&c) {
			return c.ObjectID, c.ObjectID != ""
		}
	}
	return "", false
}

func (s *Service) managementAudience(c *token.IdentityClaims) bool {
	aud, _ := c.GetAudience()
	return s.ManagementAudiences.Allows(aud)
}

func refreshSubject(c *caller, err error) (string, bool) {
	if err != nil {
		return "", false
	}
	return string(c.sub), c.sub != ""
}
