package regauth

import (
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/identity"
	"github.com/moat-registry/moat/internal/policy"
	"github.com/moat-registry/moat/internal/token"
)

// Bypasser returns the verified managed identity a request speaks for, for
// the trusted-service bypass of the network rules. It reads the credential
// the request carries: a bearer access token, a refresh token (Basic with
// ZeroUser or a refresh_token form), or an identity token being exchanged.
// Passwords are not considered: managed identities have none.
func (s *Service) Bypasser(r *http.Request) (*policy.Principal, bool) {
	sub, ok := s.credentialSubject(r)
	if !ok {
		return nil, false
	}
	p, ok := s.Dir.Get(sub)
	if !ok || p.Kind != identity.KindManagedIdentity {
		return nil, false
	}
	return &policy.Principal{SystemAssigned: p.Assignment == identity.SystemAssigned, ServiceType: p.OwnerType}, true
}

func (s *Service) credentialSubject(r *http.Request) (string, bool) {
	if raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if c, ok := s.verify(raw, s.audience(r)); ok && s.current(r.Context(), subject(c.Subject), c.Credential, c.Registry) {
			return c.Subject, c.Subject != ""
		}
		return "", false
	}
	if user, pw, ok := r.BasicAuth(); ok && user == ZeroUser {
		c, err := s.fromRefresh(r, pw)
		return refreshSubject(c, err)
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/oauth2/") {
		return "", false
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if r.ParseForm() != nil {
		return "", false
	}
	if rt := r.PostForm.Get("refresh_token"); rt != "" {
		c, err := s.fromRefresh(r, rt)
		return refreshSubject(c, err)
	}
	if at := r.PostForm.Get("access_token"); at != "" {
		var c token.IdentityClaims
		if err := s.Keys.Verify(at, &c); err == nil && c.Kind == token.KindIdentity && c.TenantID == s.Dir.Tenant && s.managementAudience(&c) {
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
