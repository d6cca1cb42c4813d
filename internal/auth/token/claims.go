package token

import (
	"github.com/golang-jwt/jwt/v5"
)

// Token kinds, in the "typ" claim, so one kind is never accepted as another.
const (
	KindIdentity = "identity" // from the identity service (/identity/...)
	KindAccess   = "access"   // registry access token (Docker token flow)
	KindRefresh  = "refresh"  // registry refresh token
)

// Access is one entry of a registry access token: what may be done to which
// resource, e.g. {repository, reg1/app, [pull push]}.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
	// Registry is the immutable ID of the registry the entry was granted on
	// (its creation GUID): a registry deleted and created again under the
	// same name has another, so old tokens do not open it.
	Registry string `json:"rid,omitempty"`
}

// RegistryClaims are the claims of registry access and refresh tokens.
// Audience is the login server (host style) or the host (path style).
type RegistryClaims struct {
	jwt.RegisteredClaims
	Kind     string   `json:"typ"`
	Access   []Access `json:"access,omitempty"`
	TenantID string   `json:"tid,omitempty"`
	// Credential is the stamp of the credential the token came from (a
	// principal's CredentialStamp, or one admin password's): when that
	// credential changes, the token stops working on every node.
	Credential string `json:"cred,omitempty"`
	// Registry is, for the tokens of a registry's admin user, the registry's
	// immutable ID.
	Registry string `json:"rid,omitempty"`
}

// CredentialBound reports whether the token is a refresh token tied to the
// credential it came from (see Keys.Verify: such tokens may outlive their key).
func (c *RegistryClaims) CredentialBound() bool { return c.Kind == KindRefresh && c.Credential != "" }

// IdentityClaims are the claims of tokens from the identity service, shaped
// like Entra ID's v2 tokens.
type IdentityClaims struct {
	jwt.RegisteredClaims
	Kind     string `json:"typ"`
	TenantID string `json:"tid"`
	ObjectID string `json:"oid"`
	AppID    string `json:"appid,omitempty"`
	UPN      string `json:"upn,omitempty"`
	Name     string `json:"name,omitempty"`
	IDType   string `json:"idtyp"` // user or app
	// MIResourceID is the resource that owns a managed identity (xms_mirid in the cloud).
	MIResourceID string `json:"xms_mirid,omitempty"`
}
