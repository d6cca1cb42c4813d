package regauth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/token"
)

// noExpiry is the expiry given to tokens that live as long as their
// credential: JWTs need one, and this one is never reached.
const noExpiry = 100 * 365 * 24 * time.Hour

// Lifetimes are the lifetimes of the tokens the service issues: the
// server's tokens.* settings (package config holds their defaults).
type Lifetimes struct {
	// Access: access tokens; Refresh: the refresh token of /oauth2/exchange,
	// what `moat acr login` writes to the Docker config.
	Access, Refresh time.Duration
	// Offline is the refresh token of credential sign-ins (docker login's
	// offline_token=true); zero: as long as the credential, which ends it
	// when it changes.
	Offline time.Duration
}

func (l Lifetimes) access() time.Duration  { return l.Access }
func (l Lifetimes) refresh() time.Duration { return l.Refresh }
func (l Lifetimes) offline() time.Duration { return cmp.Or(l.Offline, noExpiry) }

// caller is who a token request signed in as, and what binds the tokens it
// gets: the credential it used, and the end no token it gets may outlive.
type caller struct {
	sub  subject
	cred string // the credential's stamp (token.RegistryClaims.Credential)
	rid  string // an admin user's registry UID
	// refresh is the refresh token presented (a refresh grant); expires its
	// expiry, which nothing issued from it may pass.
	refresh string
	expires time.Time
	// signedIn: a password or secret was presented (the request may ask for
	// an offline refresh token).
	signedIn bool
}

var anonymous = &caller{}

// principalCaller is a user's or service principal's password sign-in.
func principalCaller(p *identity.Principal) *caller {
	return &caller{sub: subject(p.ID), cred: p.CredentialStamp(), signedIn: true}
}

// adminStamp is the stamp of one admin password of the registry of uid:
// regenerating that password (or re-creating the registry) changes it.
func adminStamp(uid, password string) string {
	sum := sha256.Sum256([]byte(uid + "\x00" + password))
	return hex.EncodeToString(sum[:12])
}

// current reports whether the credential a token was issued from is still
// the subject's: the principal exists, is enabled and has the same
// credentials (an in-memory lookup, right on every node as soon as it has
// reloaded the directory), or the admin user is enabled on the same
// registry with the same password, or the registry token is enabled on the
// same registry with the same unexpired password (a metadata read).
func (s *Service) current(ctx context.Context, sub subject, cred, rid string) bool {
	if sub == "" {
		return true
	}
	if key, name, ok := sub.tokenOf(); ok {
		return s.currentToken(ctx, key, name, cred, rid)
	}
	if key, ok := sub.adminOf(); ok {
		reg, ok := s.Index.Load().Lookup(key)
		if !ok || reg.UID == "" || reg.UID != rid || s.Admin == nil {
			return false
		}
		pws, err := s.Admin.AdminPasswords(ctx, reg.Registry)
		if err != nil {
			return false
		}
		for _, pw := range pws {
			if adminStamp(reg.UID, pw) == cred {
				return true
			}
		}
		return false
	}
	_, ok := s.Dir.CurrentCredential(string(sub), cred)
	return ok
}

// now is the time tokens are issued and checked at (the keys' clock).
func (s *Service) now() time.Time { return s.Keys.Now() }

// sign signs a token of kind for c, living ttl but never past c.expires.
func (s *Service) sign(r *http.Request, c *caller, kind string, access []token.Access, ttl time.Duration) (string, time.Duration, error) {
	now := s.now()
	exp := now.Add(ttl)
	if !c.expires.IsZero() && c.expires.Before(exp) {
		exp = c.expires
	}
	claims := token.RegistryClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: "moat", Subject: string(c.sub), Audience: jwt.ClaimStrings{s.audience(r)},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(exp)},
		Kind: kind, Access: access, TenantID: s.Dir.Tenant, Credential: c.cred, Registry: c.rid,
	}
	raw, err := s.Keys.Sign(claims)
	return raw, exp.Sub(now), err
}

// fromRefresh checks a refresh token: signature, kind, audience, and that
// its credential is still current.
func (s *Service) fromRefresh(r *http.Request, raw string) (*caller, error) {
	var c token.RegistryClaims
	if err := s.Keys.Verify(raw, &c, s.audience(r)); err != nil || c.Kind != token.KindRefresh {
		return nil, unauthorized("the refresh token is invalid, expired or for another registry; log in again")
	}
	sub := subject(c.Subject)
	if !s.current(r.Context(), sub, c.Credential, c.Registry) {
		return nil, unauthorized("the refresh token was revoked: the password or secret it was issued for has changed, or its user, service principal or admin user was disabled or deleted; log in again")
	}
	return &caller{sub: sub, cred: c.Credential, rid: c.Registry, refresh: raw, expires: c.ExpiresAt.Time}, nil
}

// offlineToken is the refresh token to answer a request that asked for one:
// the one presented (a refresh grant never extends itself), or a new one
// for a password or secret sign-in, as long-lived as tokens.offlineLifetime.
func (s *Service) offlineToken(r *http.Request, c *caller) (string, error) {
	switch {
	case c.refresh != "":
		return c.refresh, nil
	case c.signedIn:
		raw, _, err := s.sign(r, c, token.KindRefresh, nil, s.Lifetimes.offline())
		return raw, err
	}
	return "", nil
}
