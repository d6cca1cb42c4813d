package regauth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/scopemap"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/target"
)

// Registry tokens (ACR's repository-scoped tokens): a user name and two
// passwords, bound to one registry and one scope map of it. They sign in
// with Basic credentials like anyone, and are granted exactly what their
// scope map allows on their registry's repositories.

// RepositoryTokens finds a registry's token with its scope map's actions
// (nil when there is none).
type RepositoryTokens interface {
	RepositoryToken(ctx context.Context, reg *meta.Registry, name string) (*scopemap.Token, error)
}

// tokenPrefix marks the subject of a registry token: registry-token:<registry key>/<token name>.
const tokenPrefix = "registry-token:"

// maxTokenCandidates bounds the registries whose token of a name one sign-in
// checks (each check is an argon2id password check).
const maxTokenCandidates = 4

func tokenSubject(reg *regindex.Registry, name string) subject {
	return subject(tokenPrefix + reg.Key + "/" + strings.ToLower(name))
}

// tokenOf splits a registry token's subject into registry key and token name.
func (s subject) tokenOf() (regKey, name string, ok bool) {
	rest, ok := strings.CutPrefix(string(s), tokenPrefix)
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// scopePermission is the scope map permission each repository scope action needs.
var scopePermission = map[string]string{"pull": scopemap.ContentRead, "push": scopemap.ContentWrite,
	"delete": scopemap.ContentDelete, "metadata_read": scopemap.MetadataRead, "metadata_write": scopemap.MetadataWrite}

// tokenSignIn checks user and pw as a token of one of the registries the
// request addresses; nil when none of them has a token of that name or the
// password is not one of its current ones.
func (s *Service) tokenSignIn(r *http.Request, user, pw string) (*caller, error) {
	if s.Tokens == nil {
		return nil, nil
	}
	ctx := r.Context()
	tried := 0
	for _, reg := range s.addressed(r) {
		tok, err := s.Tokens.RepositoryToken(ctx, reg.Registry, user)
		if err != nil {
			return nil, err
		}
		if tok == nil {
			continue
		}
		if tried++; tried > maxTokenCandidates {
			break
		}
		p, ok, err := s.matchPassword(ctx, tok, pw)
		if err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		switch {
		case !tok.Enabled:
			return nil, unauthorized("the token %s is disabled; enable it with moat acr token update --status enabled", tok.Name)
		case p.Expired(s.now()):
			return nil, unauthorized("the %s of token %s expired at %s; generate a new one with moat acr token credential generate", p.Name, tok.Name, p.Expiry.UTC().Format("2006-01-02T15:04:05Z"))
		}
		c := &caller{sub: tokenSubject(reg, tok.Name), cred: tok.Stamp(p), rid: reg.UID, signedIn: true}
		if p.Expiry != nil {
			c.expires = *p.Expiry
		}
		return c, nil
	}
	return nil, nil
}

// matchPassword finds the token's password pw is, checked as users'
// passwords are (argon2id, in the directory's check slots).
func (s *Service) matchPassword(ctx context.Context, tok *scopemap.Token, pw string) (scopemap.Password, bool, error) {
	for _, p := range tok.Passwords {
		ok, err := s.Dir.CheckHashed(ctx, p.Hash, pw)
		if err != nil {
			return p, false, busy(err)
		}
		if ok {
			return p, true, nil
		}
	}
	return scopemap.Password{}, false, nil
}

// addressed are the registries a token request names (Host, service and
// scopes), each once.
func (s *Service) addressed(r *http.Request) []*regindex.Registry {
	if t, ok := target.Of(r); ok {
		return t.Registries
	}
	return nil
}

// currentToken reports whether a registry token's credential is still
// current: the token exists on the same registry, is enabled, and the
// password of stamp is still its own and unexpired.
func (s *Service) currentToken(ctx context.Context, regKey, name, cred, rid string) bool {
	reg, ok := s.Index.Load().Lookup(regKey)
	if !ok || reg.UID == "" || reg.UID != rid || s.Tokens == nil {
		return false
	}
	tok, err := s.Tokens.RepositoryToken(ctx, reg.Registry, name)
	if err != nil || tok == nil || !tok.Enabled {
		return false
	}
	_, ok = tok.Current(cred, s.now())
	return ok
}

// tokenMay decides one repository action of a registry token: only on its
// own registry, only what its scope map allows.
func (s *Service) tokenMay(ctx context.Context, regKey, name string, reg *regindex.Registry, repo, act string) bool {
	if regKey != reg.Key || s.Tokens == nil || repo == "" {
		return false
	}
	tok, err := s.Tokens.RepositoryToken(ctx, reg.Registry, name)
	return err == nil && tok != nil && tok.Enabled && scopemap.Allows(tok.Actions, repo, scopePermission[act])
}

// busy is the answer when no password check slot was free.
func busy(err error) error {
	if errors.Is(err, identity.ErrBusy) {
		return errBusy()
	}
	return err
}
