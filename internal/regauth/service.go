package regauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/moat-registry/moat/internal/identity"
	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/oci"
	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/rbac"
	"github.com/moat-registry/moat/internal/resid"
	"github.com/moat-registry/moat/internal/token"
)

// Lifetimes of registry tokens (the cloud's are 75 minutes and 3 hours).
const (
	AccessTTL  = time.Hour
	RefreshTTL = 3 * time.Hour
)

// ZeroUser is the user name that says "the password is a refresh token".
const ZeroUser = "00000000-0000-0000-0000-000000000000"

// adminPrefix marks the subject of a registry's admin user.
const adminPrefix = "registry-admin:"

// AdminCredentials returns a registry's admin user passwords when the admin user is enabled.
type AdminCredentials interface {
	AdminPasswords(ctx context.Context, reg *meta.Registry) ([]string, error)
}

// Service issues and checks registry tokens.
type Service struct {
	Keys       *token.Keys
	Dir        *identity.Directory
	Authz      *rbac.Authorizer
	Registries oci.RegistryLookup
	Addressing oci.Addressing
	Admin      AdminCredentials
	// Observer, when set, is told every token request's outcome.
	Observer Observer
	cache    verifiedCache
}

// subject is who a token speaks for: a principal's object ID, a registry's
// admin user, or "" for anonymous.
type subject string

func (s subject) adminOf() (string, bool) { return strings.CutPrefix(string(s), adminPrefix) }

// audience is what tokens for this request are bound to: the login server in
// host style, the host in path style.
func (s *Service) audience(r *http.Request) string {
	if reg, ok := s.Addressing.HostRegistry(r.Host); ok {
		return reg + "." + strings.ToLower(s.Addressing.Suffix)
	}
	return strings.ToLower(r.Host)
}

// ServeHTTP serves /oauth2/token and /oauth2/exchange.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var err error
	var ev TokenEvent
	switch {
	case r.URL.Path == "/oauth2/token" && r.Method == http.MethodGet:
		err = s.getToken(w, r, &ev)
	case r.URL.Path == "/oauth2/token" && r.Method == http.MethodPost:
		err = s.postToken(w, r, &ev)
	case r.URL.Path == "/oauth2/exchange" && r.Method == http.MethodPost:
		err = s.exchange(w, r, &ev)
	default:
		err = errcode.New(errcode.RouteUnknown, "token endpoints: GET or POST /oauth2/token, POST /oauth2/exchange")
	}
	if err != nil {
		errcode.Write(w, r, err)
	}
	if s.Observer != nil {
		s.describe(r, &ev, err)
		s.Observer.TokenRequest(r, ev)
	}
}

func unauthorized(format string, args ...any) error {
	return errcode.New(errcode.Unauthorized, format, args...)
}

// getToken answers the Docker token request: Basic credentials (user,
// service principal, admin user, or ZeroUser with a refresh token), or none.
func (s *Service) getToken(w http.ResponseWriter, r *http.Request, ev *TokenEvent) error {
	sub := subject("")
	if user, pw, ok := r.BasicAuth(); ok {
		var err error
		if sub, err = s.authenticate(r, user, pw); err != nil {
			return err
		}
	} else if r.Header.Get("Authorization") != "" {
		return unauthorized("unsupported Authorization header on the token endpoint: use Basic credentials")
	}
	return s.issue(w, r, sub, r.URL.Query()["scope"], sub != "", ev)
}

// postToken serves the OAuth2 form: grant_type=refresh_token or password.
func (s *Service) postToken(w http.ResponseWriter, r *http.Request, ev *TokenEvent) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errcode.New(errcode.Unsupported, "the token request must be a form (application/x-www-form-urlencoded)")
	}
	var sub subject
	var err error
	switch r.PostForm.Get("grant_type") {
	case "refresh_token":
		sub, err = s.fromRefresh(r, r.PostForm.Get("refresh_token"))
	case "password":
		sub, err = s.authenticate(r, r.PostForm.Get("username"), r.PostForm.Get("password"))
	default:
		return unauthorized("grant_type must be refresh_token or password")
	}
	if err != nil {
		return err
	}
	return s.issue(w, r, sub, strings.Fields(strings.Join(r.PostForm["scope"], " ")), false, ev)
}

// exchange turns an identity-service token into a registry refresh token.
func (s *Service) exchange(w http.ResponseWriter, r *http.Request, ev *TokenEvent) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "access_token" {
		return unauthorized("send grant_type=access_token&service=<login server>&access_token=<identity token> as a form")
	}
	var c token.IdentityClaims
	if err := s.Keys.Verify(r.PostForm.Get("access_token"), &c); err != nil || c.Kind != token.KindIdentity || c.TenantID != s.Dir.Tenant {
		return unauthorized("the access_token is not a valid identity token of this server; sign in again (moat login)")
	}
	if aud, _ := c.GetAudience(); !token.ManagementAudience(aud, r.Host) {
		return unauthorized("the access_token must be issued for this server's management API (scope https://%s/.default)", r.Host)
	}
	if _, ok := s.Dir.Get(c.ObjectID); !ok {
		return unauthorized("the principal of this token no longer exists")
	}
	// A path-style login server names its registry (<host>/<registry>): it must exist.
	if svc := r.PostForm.Get("service"); strings.Contains(svc, "/") {
		name := svc[strings.LastIndexByte(svc, '/')+1:]
		if _, ok := s.Registries.Lookup(strings.ToLower(name)); !ok {
			return errcode.New(errcode.NameUnknown, "registry %q does not exist on this server", name)
		}
	}
	rt, err := s.sign(r, subject(c.ObjectID), token.KindRefresh, nil, RefreshTTL)
	if err != nil {
		return err
	}
	ev.Subject = c.ObjectID
	return writeJSON(w, map[string]string{"refresh_token": rt})
}

// authenticate checks Basic or password-grant credentials.
func (s *Service) authenticate(r *http.Request, user, pw string) (subject, error) {
	bad := unauthorized("invalid username or password")
	switch {
	case user == "" || pw == "":
		return "", bad
	case user == ZeroUser:
		return s.fromRefresh(r, pw)
	}
	if p, ok := s.Dir.Authenticate(identity.KindUser, user, pw); ok {
		return subject(p.ID), nil
	}
	if p, ok := s.Dir.Authenticate(identity.KindServicePrincipal, user, pw); ok {
		return subject(p.ID), nil
	}
	if reg, ok := s.Registries.Lookup(strings.ToLower(user)); ok && s.Admin != nil {
		pws, err := s.Admin.AdminPasswords(r.Context(), reg)
		if err != nil {
			return "", err
		}
		for _, p := range pws {
			if subtle.ConstantTimeCompare([]byte(p), []byte(pw)) == 1 {
				return subject(adminPrefix + reg.Key), nil
			}
		}
	}
	return "", bad
}

func (s *Service) fromRefresh(r *http.Request, raw string) (subject, error) {
	var c token.RegistryClaims
	if err := s.Keys.Verify(raw, &c, s.audience(r)); err != nil || c.Kind != token.KindRefresh {
		return "", unauthorized("the refresh token is invalid, expired or for another registry; log in again")
	}
	return subject(c.Subject), nil
}

// issue grants what the subject may do of the requested scopes and answers
// with an access token (and, for a credential sign-in, a refresh token).
func (s *Service) issue(w http.ResponseWriter, r *http.Request, sub subject, scopes []string, withRefresh bool, ev *TokenEvent) error {
	var granted []token.Access
	for _, sc := range scopes {
		for one := range strings.FieldsSeq(sc) {
			a, ok := ParseScope(one)
			if !ok {
				continue
			}
			if acts := s.grant(r, sub, a); len(acts) > 0 {
				granted = append(granted, token.Access{Type: a.Type, Name: a.Name, Actions: acts})
			}
		}
	}
	at, err := s.sign(r, sub, token.KindAccess, granted, AccessTTL)
	if err != nil {
		return err
	}
	ev.Subject, ev.Granted = string(sub), granted
	out := map[string]any{"token": at, "access_token": at, "expires_in": int(AccessTTL.Seconds()), "issued_at": time.Now().UTC().Format(time.RFC3339)}
	if withRefresh {
		if out["refresh_token"], err = s.sign(r, sub, token.KindRefresh, nil, RefreshTTL); err != nil {
			return err
		}
	}
	return writeJSON(w, out)
}

func (s *Service) sign(r *http.Request, sub subject, kind string, access []token.Access, ttl time.Duration) (string, error) {
	now := time.Now()
	c := token.RegistryClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: "moat", Subject: string(sub), Audience: jwt.ClaimStrings{s.audience(r)},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(now.Add(ttl))},
		Kind: kind, Access: access, TenantID: s.Dir.Tenant,
	}
	return s.Keys.Sign(c)
}

// grant returns the actions of a requested scope the subject may have.
func (s *Service) grant(r *http.Request, sub subject, a token.Access) []string {
	if a.Type == "registry" && a.Name == "catalog" {
		if sub != "" {
			return []string{"*"}
		}
		return nil
	}
	if a.Type != "repository" {
		return nil
	}
	reg, _, ok := s.target(r, a.Name)
	if !ok {
		return nil
	}
	var out []string
	for _, act := range expand(a.Actions) {
		if s.may(r.Context(), sub, reg, act) {
			out = append(out, act)
		}
	}
	return out
}

func expand(actions []string) []string {
	if slices.Contains(actions, "*") {
		return []string{"pull", "push", "delete", "metadata_read", "metadata_write"}
	}
	return actions
}

// target resolves a scope's repository name to its registry on this host.
func (s *Service) target(r *http.Request, name string) (*meta.Registry, string, bool) {
	regName, repo := s.Addressing.Split(r.Host, name)
	reg, ok := s.Registries.Lookup(strings.ToLower(regName))
	return reg, repo, ok && repo != ""
}

// rbacAction is the role action each repository scope action needs. ACR's
// metadata actions (the /acr/v1/ API: list and show need metadata_read,
// changing attributes metadata_write) come with pull and push. A token
// with a scope map has ACR's repository permissions instead: pull
// content/read, push content/write, delete content/delete, metadata_read
// metadata/read, metadata_write metadata/write.
var rbacAction = map[string]string{"pull": rbac.ActionPull, "push": rbac.ActionPush, "delete": rbac.ActionDelete,
	"metadata_read": rbac.ActionPull, "metadata_write": rbac.ActionPush}

// may decides one data action of a subject on a registry.
func (s *Service) may(ctx context.Context, sub subject, reg *meta.Registry, act string) bool {
	if regKey, ok := sub.adminOf(); ok {
		return regKey == reg.Key && s.adminEnabled(ctx, reg)
	}
	if sub == "" {
		return act == "pull" && anonymousPull(reg)
	}
	return s.Authz.Allowed(string(sub), resid.RegistryID(reg.Subscription, reg.ResourceGroup, reg.Name), rbacAction[act])
}

func (s *Service) adminEnabled(ctx context.Context, reg *meta.Registry) bool {
	if s.Admin == nil {
		return false
	}
	pws, err := s.Admin.AdminPasswords(ctx, reg)
	return err == nil && len(pws) > 0
}

func anonymousPull(reg *meta.Registry) bool {
	var p struct {
		AnonymousPullEnabled bool `json:"anonymousPullEnabled"`
	}
	return json.Unmarshal(reg.Properties, &p) == nil && p.AnonymousPullEnabled
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(v)
}
