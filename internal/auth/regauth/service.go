package regauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"github.com/moat-registry/moat/internal/audit"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/target"
)

// ZeroUser is the user name that says "the password is a refresh token".
const ZeroUser = target.ZeroUser

// adminPrefix marks the subject of a registry's admin user.
const adminPrefix = "registry-admin:"

// AdminCredentials returns a registry's admin user passwords when the admin user is enabled.
type AdminCredentials interface {
	AdminPasswords(ctx context.Context, reg *meta.Registry) ([]string, error)
}

// Service issues and checks registry tokens. It serves requests behind
// target.Middleware and decides on the target it resolved (which registries,
// which credential); it parses nothing of the request itself.
type Service struct {
	Keys  *token.Keys
	Dir   *identity.Directory
	Authz *rbac.Authorizer
	// Index is the registries' snapshot, for what has no request (Mint).
	Index target.Snapshots
	Admin AdminCredentials
	// Tokens are the registries' repository-scoped tokens (nil: none).
	Tokens RepositoryTokens
	// Observer, when set, is told every token request's outcome (metrics).
	Observer Observer
	// Audit, when set, records every token request in the audit trail.
	Audit audit.Recorder
	// Lifetimes of the tokens issued (config gives the defaults).
	Lifetimes Lifetimes
	// ManagementAudiences are the audiences of the identity tokens that
	// /oauth2/exchange accepts (the management API's).
	ManagementAudiences token.Audiences
	cache               verifiedCache
}

// subject is who a token speaks for: a principal's object ID, a registry's
// admin user, or "" for anonymous.
type subject string

func (s subject) adminOf() (string, bool) { return strings.CutPrefix(string(s), adminPrefix) }

// audience is what tokens for this request are bound to: the login server in
// host style, the host in path style (target.Target.Audience).
func (s *Service) audience(r *http.Request) string {
	if t, ok := target.Of(r); ok {
		return t.Audience
	}
	return s.Index.Load().Addressing.Audience(r.Host) // a request without a target (tests)
}

// ServeHTTP serves /oauth2/token and /oauth2/exchange.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, ok := target.Of(r)
	switch {
	case !ok:
		errcode.Write(w, r, errcode.New(errcode.Internal, "the request's target was not resolved"))
		return
	case t.Err != nil: // the network gate answers these first
		errcode.Write(w, r, t.Err)
		return
	case t.Token == nil:
		errcode.Write(w, r, errcode.New(errcode.RouteUnknown, "token endpoints: GET or POST /oauth2/token, POST /oauth2/exchange"))
		return
	}
	var err error
	var ev TokenEvent
	switch {
	case t.Kind == target.KindToken && r.Method == http.MethodGet:
		err = s.getToken(w, r, t.Token, &ev)
	case t.Kind == target.KindToken && r.Method == http.MethodPost:
		err = s.postToken(w, r, t.Token, &ev)
	case t.Kind == target.KindExchange && r.Method == http.MethodPost:
		err = s.exchange(w, r, t, &ev)
	default:
		err = errcode.New(errcode.RouteUnknown, "token endpoints: GET or POST /oauth2/token, POST /oauth2/exchange")
	}
	if err != nil {
		errcode.Write(w, r, err)
	}
	if s.Observer == nil && s.Audit == nil {
		return
	}
	s.describe(r, t, &ev, err)
	if s.Observer != nil {
		s.Observer.TokenRequest(r, ev)
	}
	if s.Audit != nil {
		s.record(r, t, ev)
	}
}

// errBusy: every password check slot was taken; nothing was checked.
func errBusy() error {
	return errcode.New(errcode.Unavailable, "moat is checking too many sign-ins at the moment; nothing was checked. Retry after %d s.",
		int(identity.BusyRetryAfter/time.Second)).WithHeader("Retry-After", strconv.Itoa(int(identity.BusyRetryAfter/time.Second)))
}

func unauthorized(format string, args ...any) error {
	return errcode.New(errcode.Unauthorized, format, args...)
}

// getToken answers the Docker token request: Basic credentials (user,
// service principal, admin user, or ZeroUser with a refresh token), or none.
// A refresh token is answered only when asked for (offline_token=true).
func (s *Service) getToken(w http.ResponseWriter, r *http.Request, tr *target.TokenRequest, ev *TokenEvent) error {
	c := anonymous
	switch {
	case tr.Grant == target.GrantBasic || tr.Grant == target.GrantRefresh:
		var err error
		if c, err = s.authenticate(r, tr.User, tr.Secret); err != nil {
			return err
		}
	case tr.OtherAuthorization:
		return unauthorized("unsupported Authorization header on the token endpoint: use Basic credentials")
	}
	return s.issue(w, r, c, tr.Scopes, tr.Params.Get("offline_token") == "true", ev)
}

// postToken serves the OAuth2 form: grant_type=refresh_token or password.
// A refresh token is answered only when asked for (access_type=offline).
func (s *Service) postToken(w http.ResponseWriter, r *http.Request, tr *target.TokenRequest, ev *TokenEvent) error {
	var c *caller
	var err error
	switch tr.Grant {
	case target.GrantRefresh:
		c, err = s.fromRefresh(r, tr.Secret)
	case target.GrantPassword:
		c, err = s.authenticate(r, tr.User, tr.Secret)
	default:
		return unauthorized("grant_type must be refresh_token or password")
	}
	if err != nil {
		return err
	}
	return s.issue(w, r, c, tr.Scopes, tr.Params.Get("access_type") == "offline", ev)
}

// exchange turns an identity-service token into a registry refresh token.
func (s *Service) exchange(w http.ResponseWriter, r *http.Request, t *target.Target, ev *TokenEvent) error {
	if t.Token.Grant != target.GrantExchange {
		return unauthorized("send grant_type=access_token&service=<login server>&access_token=<identity token> as a form")
	}
	var c token.IdentityClaims
	if err := s.Keys.Verify(t.Token.Secret, &c); err != nil || c.Kind != token.KindIdentity || c.TenantID != s.Dir.Tenant {
		return unauthorized("the access_token is not a valid identity token of this server; sign in again (moat login)")
	}
	if aud, _ := c.GetAudience(); !s.ManagementAudiences.AllowsRegistry(aud) {
		return unauthorized("the access_token must be issued for this server's management API (scope %s.default) or for %s", s.ManagementAudiences.List()[0], token.ACRAudience)
	}
	p, ok := s.Dir.Get(c.ObjectID)
	if !ok || p.Disabled {
		return unauthorized("the principal of this token no longer exists or is disabled")
	}
	// A path-style login server names its registry (<host>/<registry>): it must exist.
	if svc := t.Token.Service; strings.Contains(svc, "/") {
		name := svc[strings.LastIndexByte(svc, '/')+1:]
		if _, ok := t.Snap.LookupName(name); !ok {
			return errcode.New(errcode.NameUnknown, "registry %q does not exist on this server", name)
		}
	}
	rt, _, err := s.sign(r, &caller{sub: subject(p.ID), cred: p.CredentialStamp()}, token.KindRefresh, nil, s.Lifetimes.refresh())
	if err != nil {
		return err
	}
	ev.Subject = c.ObjectID
	return writeJSON(w, map[string]string{"refresh_token": rt})
}

// authenticate checks Basic or password-grant credentials: a service
// principal's secret and the registry's admin user first (fast hashes), then
// a registry token of a registry the request addresses, then a user's
// password (both argon2id, in one of the directory's few check slots).
func (s *Service) authenticate(r *http.Request, user, pw string) (*caller, error) {
	bad := unauthorized("invalid username or password")
	switch {
	case user == "" || pw == "":
		return nil, bad
	case user == ZeroUser:
		return s.fromRefresh(r, pw)
	}
	ctx := r.Context()
	p, err := s.Dir.Authenticate(ctx, identity.KindServicePrincipal, user, pw)
	if err == nil {
		return principalCaller(p), nil
	} else if errors.Is(err, identity.ErrDisabled) {
		return nil, unauthorized("the service principal %s is disabled", user)
	}
	if reg, ok := s.snapshot(r).LookupName(user); ok && s.Admin != nil {
		pws, err := s.Admin.AdminPasswords(ctx, reg.Registry)
		if err != nil {
			return nil, err
		}
		for _, p := range pws {
			if subtle.ConstantTimeCompare([]byte(p), []byte(pw)) == 1 {
				return &caller{sub: subject(adminPrefix + reg.Key), cred: adminStamp(reg.UID, p), rid: reg.UID, signedIn: true}, nil
			}
		}
	}
	if c, err := s.tokenSignIn(r, user, pw); c != nil || err != nil {
		return c, err
	}
	p, err = s.Dir.Authenticate(ctx, identity.KindUser, user, pw)
	switch {
	case errors.Is(err, identity.ErrBusy):
		return nil, errBusy()
	case errors.Is(err, identity.ErrDisabled):
		return nil, unauthorized("the user %s is disabled", user)
	case err != nil:
		return nil, bad
	}
	return principalCaller(p), nil
}

// issue grants what the caller may do of the requested scopes and answers
// with an access token, and a refresh token when the request asks for one.
func (s *Service) issue(w http.ResponseWriter, r *http.Request, c *caller, scopes []string, offline bool, ev *TokenEvent) error {
	var granted []token.Access
	for _, sc := range scopes {
		for one := range strings.FieldsSeq(sc) {
			a, ok := target.ParseScope(one)
			if !ok {
				continue
			}
			if acts, rid := s.grant(r, c.sub, a); len(acts) > 0 {
				granted = append(granted, token.Access{Type: a.Type, Name: a.Name, Actions: acts, Registry: rid})
			}
		}
	}
	at, life, err := s.sign(r, c, token.KindAccess, granted, s.Lifetimes.access())
	if err != nil {
		return err
	}
	ev.Subject, ev.Granted = string(c.sub), granted
	out := map[string]any{"token": at, "access_token": at, "expires_in": int(life.Seconds()), "issued_at": s.now().UTC().Format(time.RFC3339)}
	if offline {
		rt, err := s.offlineToken(r, c)
		if err != nil {
			return err
		}
		if rt != "" {
			out["refresh_token"] = rt
		}
	}
	return writeJSON(w, out)
}

// grant returns the actions of a requested scope the subject may have, and
// the UID of the registry they are on ("" for the path-style catalog).
func (s *Service) grant(r *http.Request, sub subject, a token.Access) ([]string, string) {
	if a.Type == "registry" && a.Name == "catalog" {
		// A registry token reaches repositories its scope map names, not the catalog.
		if _, _, isToken := sub.tokenOf(); sub != "" && !isToken {
			return []string{"*"}, s.needRegistry(r, a)
		}
		return nil, ""
	}
	if a.Type != "repository" {
		return nil, ""
	}
	reg, repo, ok := s.target(r, a.Name)
	if !ok {
		return nil, ""
	}
	var out []string
	for _, act := range expand(a.Actions) {
		if s.may(r.Context(), sub, reg, repo, act) {
			out = append(out, act)
		}
	}
	return out, reg.UID
}

func expand(actions []string) []string {
	if slices.Contains(actions, "*") {
		return []string{"pull", "push", "delete", "metadata_read", "metadata_write"}
	}
	return actions
}

// target resolves a scope's repository name to its registry on this host.
func (s *Service) target(r *http.Request, name string) (*regindex.Registry, string, bool) {
	t, ok := target.Of(r)
	if !ok {
		return nil, "", false
	}
	reg, _, repo := t.Split(name)
	return reg, repo, reg != nil && repo != ""
}

// snapshot is the registries' snapshot the request is decided on.
func (s *Service) snapshot(r *http.Request) *regindex.Snapshot {
	if t, ok := target.Of(r); ok {
		return t.Snap
	}
	return s.Index.Load()
}

// rbacAction is the role action each repository scope action needs. ACR's
// metadata actions (the /acr/v1/ API: list and show need metadata_read,
// changing attributes metadata_write) come with pull and push. A token
// with a scope map has ACR's repository permissions instead: pull
// content/read, push content/write, delete content/delete, metadata_read
// metadata/read, metadata_write metadata/write.
var rbacAction = map[string]string{"pull": rbac.ActionPull, "push": rbac.ActionPush, "delete": rbac.ActionDelete,
	"metadata_read": rbac.ActionPull, "metadata_write": rbac.ActionPush}

// may decides one data action of a subject on a repository of a registry
// (repo "": the registry as a whole, as the path-style catalog asks).
func (s *Service) may(ctx context.Context, sub subject, reg *regindex.Registry, repo, act string) bool {
	if regKey, name, ok := sub.tokenOf(); ok {
		return s.tokenMay(ctx, regKey, name, reg, repo, act)
	}
	if regKey, ok := sub.adminOf(); ok {
		return regKey == reg.Key && s.adminEnabled(ctx, reg.Registry)
	}
	if sub == "" {
		return act == "pull" && reg.AnonymousPull()
	}
	return s.Authz.Allowed(string(sub), reg.ID, rbacAction[act])
}

func (s *Service) adminEnabled(ctx context.Context, reg *meta.Registry) bool {
	if s.Admin == nil {
		return false
	}
	pws, err := s.Admin.AdminPasswords(ctx, reg)
	return err == nil && len(pws) > 0
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(v)
}
