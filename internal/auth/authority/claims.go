package authority

import (
	"github.com/golang-jwt/jwt/v5"
	"github.com/moat-registry/moat/internal/auth/token"
)

// Kinds (the "typ" claim) of the tokens only this package reads. They differ
// from token.KindIdentity so that an ID token or a refresh token is never
// accepted where an access token is expected.
const (
	kindIDToken = "id_token"
	kindRefresh = "identity_refresh"
)

// accessClaims is an access token: token.IdentityClaims (what the rest of
// moat verifies) plus the Entra v2 claims clients look at.
type accessClaims struct {
	token.IdentityClaims
	AZP      string `json:"azp,omitempty"`
	AppIDACR string `json:"appidacr,omitempty"` // 0 public client, 1 client secret
	Scope    string `json:"scp,omitempty"`
	Version  string `json:"ver"`
}

// idClaims is an OpenID Connect ID token (audience: the client). Its aud is
// a single string, not an array: MSAL decodes the ID token's aud into a
// string and fails on an array.
type idClaims struct {
	jwt.RegisteredClaims
	Aud               string `json:"aud"` // hides RegisteredClaims.Audience
	Kind              string `json:"typ"`
	TenantID          string `json:"tid"`
	ObjectID          string `json:"oid"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Name              string `json:"name,omitempty"`
	Version           string `json:"ver"`
}

// refreshClaims is a user's refresh token (audience: the client). It names
// the user and fingerprints the user's password hashes at sign-in, so a
// password change revokes it, and carries when the session began.
type refreshClaims struct {
	jwt.RegisteredClaims
	Kind      string `json:"typ"`
	TenantID  string `json:"tid"`
	ObjectID  string `json:"oid"`
	AuthTime  int64  `json:"auth_time"`
	SecretsFP string `json:"sfp"`
}

// GetAudience implements jwt.Claims for the single-string aud.
func (c idClaims) GetAudience() (jwt.ClaimStrings, error) {
	if c.Aud == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{c.Aud}, nil
}
