package authority

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/token"
)

// maxForm bounds a token request body.
const maxForm = 64 << 10

// tokenResponse is a successful token response, shaped like Entra ID's.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
}

// tokenRequest is a parsed token request.
type tokenRequest struct {
	r      *http.Request
	form   url.Values
	issuer string
	now    time.Time
	// principal and resource are what the request signed in as and asked
	// for, once known (for the sign-in record).
	principal *identity.Principal
	resource  string
}

func (t *tokenRequest) get(k string) string { return t.form.Get(k) }

// require answers AADSTS900144 for the first of names the form lacks.
func (t *tokenRequest) require(names ...string) *oauthError {
	for _, k := range names {
		if t.get(k) == "" {
			return newError(http.StatusBadRequest, "invalid_request", codeMissingParameter,
				"The request body must contain the following parameter: '%s'.", k)
		}
	}
	return nil
}

// token is POST /identity/{tenant}/oauth2/v2.0/token.
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		h.methodNotAllowed(w, r, "POST")
		return
	}
	b := base(r)
	if b == "" {
		h.badHost(w, r)
		return
	}
	if !h.tenantOK(r) {
		h.unknownTenant(w, r, "invalid_request")
		return
	}
	form, e := parseForm(w, r)
	if e != nil {
		h.writeError(w, r, e)
		return
	}
	req := &tokenRequest{r: r, form: form, issuer: h.issuer(b), now: h.now()}
	var resp *tokenResponse
	grant := form.Get("grant_type")
	switch grant {
	case "client_credentials":
		resp, e = h.clientCredentials(req)
	case "password":
		resp, e = h.password(req)
	case "refresh_token":
		resp, e = h.refresh(req)
	case "":
		e = newError(http.StatusBadRequest, "invalid_request", codeMissingParameter,
			"The request body must contain the following parameter: 'grant_type'. Use client_credentials (service principals), password (users) or refresh_token.")
	default:
		e = newError(http.StatusBadRequest, "unsupported_grant_type", codeUnsupported,
			"The grant type '%s' is not supported by moat. Use client_credentials (service principal: client_id, client_secret, scope), password (user: username, password, client_id, scope) or refresh_token.", clip(grant))
	}
	h.recordToken(req, grant, e)
	if e != nil {
		logRefusal(r, "token", e.Code, "grant_type", clip(grant), "error_code", e.Codes[0],
			"client_id", clip(form.Get("client_id")), "username", clip(form.Get("username")))
		h.writeError(w, r, e)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// parseForm reads the form body: urlencoded, bounded, each parameter once.
// Parameters in the query string are ignored (secrets do not belong in URLs).
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, newError(http.StatusBadRequest, "invalid_request", codeMalformed,
			"The token request must be a POST with Content-Type application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			e := newError(http.StatusRequestEntityTooLarge, "invalid_request", codeMalformed,
				"The token request body is larger than %d bytes.", maxForm)
			return nil, e
		}
		return nil, newError(http.StatusBadRequest, "invalid_request", codeMalformed,
			"The token request body is not a valid urlencoded form.")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, newError(http.StatusBadRequest, "invalid_request", codeDuplicateParameter,
				"The parameter '%s' appears more than once; send each parameter once.", clip(k))
		}
	}
	return r.PostForm, nil
}

// oidcScopes are the OpenID Connect scopes MSAL adds to every request.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

// scope is a parsed scope parameter: one resource, and the OIDC scopes.
type scope struct {
	resource string // the token audience
	granted  string // what the response's scope says was granted
	openid   bool
	offline  bool
}

func parseScope(raw string, appOnly bool) (*scope, *oauthError) {
	const example = "https://management.moat/.default"
	s := &scope{}
	var resources, granted []string
	for _, f := range strings.Fields(raw) {
		if oidcScopes[f] {
			s.openid = s.openid || f == "openid"
			s.offline = s.offline || f == "offline_access"
			if !appOnly {
				granted = append(granted, f)
			}
			continue
		}
		resources = append(resources, f)
	}
	switch {
	case strings.TrimSpace(raw) == "":
		return nil, newError(http.StatusBadRequest, "invalid_request", codeMissingParameter,
			"The request body must contain the following parameter: 'scope'. Ask for the resource as '<resource>/.default', e.g. %s.", example)
	case len(resources) == 0:
		return nil, newError(http.StatusBadRequest, "invalid_scope", codeInvalidScope,
			"The scope '%s' names no resource. Ask for the resource as '<resource>/.default', e.g. %s.", clip(raw), example)
	case len(resources) > 1:
		return nil, newError(http.StatusBadRequest, "invalid_scope", codeManyResources,
			"The scope '%s' names more than one resource; a token is for one resource. Request one token per resource, each as '<resource>/.default'.", clip(raw))
	}
	res := resources[0]
	if strings.HasSuffix(res, "/.default") {
		s.resource = strings.TrimSuffix(res, "/.default")
	} else if appOnly {
		return nil, newError(http.StatusBadRequest, "invalid_scope", codeDefaultScopeOnly,
			"The provided value for scope '%s' is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI), e.g. %s.", clip(res), example)
	} else if i := strings.LastIndexByte(res, '/'); i > 0 && i < len(res)-1 {
		s.resource = res[:i]
	}
	if !validResource(s.resource) {
		return nil, newError(http.StatusBadRequest, "invalid_scope", codeInvalidScope,
			"The scope '%s' is not valid. Ask for the resource as '<resource>/.default', e.g. %s.", clip(res), example)
	}
	s.granted = strings.Join(append([]string{res}, granted...), " ")
	return s, nil
}

// validResource: a resource (audience) is a URI or ID of printable
// characters without spaces.
func validResource(r string) bool {
	if r == "" || len(r) > 512 {
		return false
	}
	for _, c := range r {
		if c > unicode.MaxASCII || !unicode.IsPrint(c) || c == ' ' {
			return false
		}
	}
	return true
}

// clientAuth is the client's credentials from the form or Basic auth.
func clientAuth(req *tokenRequest) (id, secret string, basic bool, e *oauthError) {
	id, secret = req.get("client_id"), req.get("client_secret")
	bid, bsecret, ok := basicClient(req.r)
	if !ok {
		return id, secret, false, nil
	}
	if secret != "" {
		return "", "", true, newError(http.StatusBadRequest, "invalid_request", codeMalformed,
			"The client authenticated both with HTTP Basic and with client_secret in the body; use one of them.")
	}
	if id != "" && id != bid {
		return "", "", true, newError(http.StatusBadRequest, "invalid_request", codeMalformed,
			"The client_id in the body differs from the one in the Authorization header.")
	}
	return bid, bsecret, true, nil
}

// basicClient is the client ID and secret of an Authorization: Basic header,
// form-decoded as RFC 6749 2.3.1 says they were encoded. The sign-in limits
// read the client ID through it too, so that they count the client that is
// authenticated, however its name is spelled.
func basicClient(r *http.Request) (id, secret string, ok bool) {
	id, secret, ok = r.BasicAuth()
	if v, err := url.QueryUnescape(id); err == nil {
		id = v
	}
	if v, err := url.QueryUnescape(secret); err == nil {
		secret = v
	}
	return id, secret, ok
}

func badClient() *oauthError {
	return newError(http.StatusUnauthorized, "invalid_client", codeBadClientSecret,
		"Invalid client secret provided, or no service principal has this client ID. Send the service principal's appId as client_id and the secret value (not the secret ID) as client_secret; `moat ad sp create-for-rbac` prints both once.")
}

func (h *Handler) clientCredentials(req *tokenRequest) (*tokenResponse, *oauthError) {
	if req.get("client_assertion") != "" || req.get("client_assertion_type") != "" {
		return nil, newError(http.StatusBadRequest, "invalid_request", codeUnsupported,
			"Client assertions (certificate or federated credentials) are not supported by moat; authenticate the service principal with its client_secret.")
	}
	id, secret, _, e := clientAuth(req)
	if e != nil {
		return nil, e
	}
	if id == "" {
		return nil, newError(http.StatusBadRequest, "invalid_request", codeMissingParameter,
			"The request body must contain the following parameter: 'client_id' (the service principal's appId).")
	}
	if secret == "" {
		return nil, newError(http.StatusUnauthorized, "invalid_client", codeMissingSecret,
			"The request body must contain the following parameter: 'client_secret' (or authenticate with HTTP Basic).")
	}
	sc, e := parseScope(req.get("scope"), true)
	if e != nil {
		return nil, e
	}
	req.resource = sc.resource
	p, err := h.dir.Authenticate(req.r.Context(), identity.KindServicePrincipal, id, secret)
	if err != nil {
		return nil, credentialError(err, identity.KindServicePrincipal, id)
	}
	req.principal = p
	at, exp, err := h.signAccess(req.issuer, sc.resource, req.now, time.Time{}, p, func(c *accessClaims) {
		c.AppID, c.AZP, c.AppIDACR, c.IDType = p.Name, p.Name, "1", "app"
	})
	if err != nil {
		return nil, serverError()
	}
	return &tokenResponse{TokenType: "Bearer", Scope: sc.granted, ExpiresIn: exp, ExtExpiresIn: exp, AccessToken: at}, nil
}

// credentialError answers a failed check of a user's password (invalid_grant)
// or a service principal's secret (invalid_client): no free password check
// slot is a 503 with Retry-After; a disabled principal (right credentials
// only) says so.
func credentialError(err error, kind, name string) *oauthError {
	user := kind == identity.KindUser
	switch {
	case errors.Is(err, identity.ErrBusy):
		e := newError(http.StatusServiceUnavailable, "temporarily_unavailable", codeBusy,
			"moat is checking too many sign-ins at the moment; nothing was checked. Retry after %d s.", int(identity.BusyRetryAfter/time.Second))
		e.retryAfter = identity.BusyRetryAfter
		return e
	case errors.Is(err, identity.ErrDisabled) && user:
		return newError(http.StatusBadRequest, "invalid_grant", codeUserDisabled,
			"The user account %s is disabled. An Owner can enable it again (moat ad user update --account-enabled true).", clip(name))
	case errors.Is(err, identity.ErrDisabled):
		return newError(http.StatusUnauthorized, "unauthorized_client", codeAppDisabled,
			"The service principal %s is disabled. An Owner can enable it again (Microsoft Graph accountEnabled).", clip(name))
	case user:
		return newError(http.StatusBadRequest, "invalid_grant", codeBadCredentials,
			"Error validating credentials due to invalid username or password. Check the user principal name (as in `moat ad user list`) and the password.")
	}
	return badClient()
}

func serverError() *oauthError {
	return newError(http.StatusInternalServerError, "server_error", codeMalformed,
		"moat could not sign the token; see the server log.")
}

// password is the resource owner password credentials grant for users.
func (h *Handler) password(req *tokenRequest) (*tokenResponse, *oauthError) {
	if e := req.require("client_id", "username", "password"); e != nil {
		return nil, e
	}
	user, pw, clientID := req.get("username"), req.get("password"), req.get("client_id")
	sc, e := parseScope(req.get("scope"), false)
	if e != nil {
		return nil, e
	}
	conf, e := h.confidentialClient(req, clientID)
	if e != nil {
		return nil, e
	}
	req.resource = sc.resource
	// Authenticate spends the same (slow) work whether or not the user exists.
	p, err := h.dir.Authenticate(req.r.Context(), identity.KindUser, user, pw)
	if err != nil {
		return nil, credentialError(err, identity.KindUser, user)
	}
	return h.userTokens(req, p, clientID, conf, sc, req.now)
}

// confidentialClient checks a client secret that accompanies a user grant.
// Public clients (azidentity's UsernamePasswordCredential, moat's CLI) send none.
func (h *Handler) confidentialClient(req *tokenRequest, clientID string) (bool, *oauthError) {
	id, secret, basic, e := clientAuth(req)
	if e != nil {
		return false, e
	}
	if secret == "" && !basic {
		return false, nil
	}
	if basic && id != clientID {
		return false, newError(http.StatusBadRequest, "invalid_request", codeMalformed,
			"The client_id in the body differs from the one in the Authorization header.")
	}
	if _, err := h.dir.Authenticate(req.r.Context(), identity.KindServicePrincipal, clientID, secret); err != nil {
		return false, credentialError(err, identity.KindServicePrincipal, clientID)
	}
	return true, nil
}

// refresh redeems a user's refresh token.
func (h *Handler) refresh(req *tokenRequest) (*tokenResponse, *oauthError) {
	if e := req.require("client_id", "refresh_token"); e != nil {
		return nil, e
	}
	raw, clientID := req.get("refresh_token"), req.get("client_id")
	sc, e := parseScope(req.get("scope"), false)
	if e != nil {
		return nil, e
	}
	conf, e := h.confidentialClient(req, clientID)
	if e != nil {
		return nil, e
	}
	req.resource = sc.resource
	var c refreshClaims
	if err := h.keys.Verify(raw, &c, clientID); err != nil || c.Kind != kindRefresh || !strings.EqualFold(c.TenantID, h.dir.Tenant) {
		return nil, newError(http.StatusBadRequest, "invalid_grant", codeMalformed,
			"The refresh token is invalid, expired, or was issued to another client. Sign in again with the password.")
	}
	authTime := time.Unix(c.AuthTime, 0)
	if req.now.Sub(authTime) > SessionLifetime {
		return nil, newError(http.StatusBadRequest, "invalid_grant", codeSessionExpired,
			"The sign-in session began more than %d days ago and has expired. Sign in again with the password.", int(SessionLifetime/(24*time.Hour)))
	}
	p, ok := h.dir.CurrentCredential(c.ObjectID, c.SecretsFP)
	if !ok || p.Kind != identity.KindUser {
		return nil, newError(http.StatusBadRequest, "invalid_grant", codeRevoked,
			"The refresh token was revoked because the user was deleted or disabled, or the password changed. Sign in again with the password.")
	}
	return h.userTokens(req, p, clientID, conf, sc, authTime)
}

// userTokens issues a user's access token and, as the scopes ask, an ID
// token, refresh token and client_info.
func (h *Handler) userTokens(req *tokenRequest, p *identity.Principal, clientID string, confidential bool, sc *scope, authTime time.Time) (*tokenResponse, *oauthError) {
	req.principal = p
	// Nothing issued from a sign-in outlives its session: a refresh token
	// renews, but never past authTime + SessionLifetime.
	end := authTime.Add(SessionLifetime)
	at, exp, err := h.signAccess(req.issuer, sc.resource, req.now, end, p, func(c *accessClaims) {
		c.AppID, c.AZP, c.AppIDACR, c.IDType = clientID, clientID, "0", "user"
		c.UPN, c.Name, c.Scope = p.Name, p.DisplayName, "user_impersonation"
		if confidential {
			c.AppIDACR = "1"
		}
	})
	if err != nil {
		return nil, serverError()
	}
	resp := &tokenResponse{TokenType: "Bearer", Scope: sc.granted, ExpiresIn: exp, ExtExpiresIn: exp, AccessToken: at}
	if sc.openid {
		rc := registered(req.issuer, "", p.ID, req.now, until(req.now, AccessTokenLifetime, end))
		resp.IDToken, err = h.keys.Sign(&idClaims{
			RegisteredClaims:  rc,
			Aud:               clientID,
			Kind:              kindIDToken,
			TenantID:          h.dir.Tenant,
			ObjectID:          p.ID,
			PreferredUsername: p.Name,
			Name:              p.DisplayName,
			Version:           "2.0",
		})
		if err != nil {
			return nil, serverError()
		}
	}
	if sc.offline {
		resp.RefreshToken, err = h.keys.Sign(&refreshClaims{
			RegisteredClaims: registered(req.issuer, clientID, p.ID, req.now, until(req.now, RefreshTokenLifetime, end)),
			Kind:             kindRefresh,
			TenantID:         h.dir.Tenant,
			ObjectID:         p.ID,
			AuthTime:         authTime.Unix(),
			SecretsFP:        p.CredentialStamp(),
		})
		if err != nil {
			return nil, serverError()
		}
	}
	if req.get("client_info") == "1" {
		ci, _ := json.Marshal(map[string]string{"uid": p.ID, "utid": h.dir.Tenant})
		resp.ClientInfo = base64.RawURLEncoding.EncodeToString(ci)
	}
	return resp, nil
}

func registered(iss, aud, sub string, now time.Time, life time.Duration) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{
		Issuer:    iss,
		Subject:   sub,
		Audience:  audience(aud),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(life)),
		ID:        newJTI(),
	}
}

func audience(aud string) jwt.ClaimStrings {
	if aud == "" {
		return nil
	}
	return jwt.ClaimStrings{aud}
}

// signAccess signs an access token for p with audience aud, ending no later
// than end (zero: no bound); set fills the claims that depend on the flow. It
// returns the token and its lifetime in seconds.
func (h *Handler) signAccess(iss, aud string, now, end time.Time, p *identity.Principal, set func(*accessClaims)) (string, int64, error) {
	life := until(now, AccessTokenLifetime, end)
	c := &accessClaims{
		IdentityClaims: token.IdentityClaims{
			RegisteredClaims: registered(iss, aud, p.ID, now, life),
			Kind:             token.KindIdentity,
			TenantID:         h.dir.Tenant,
			ObjectID:         p.ID,
		},
		Version: "2.0",
	}
	set(c)
	s, err := h.keys.Sign(c)
	return s, int64(life / time.Second), err
}

// until is life from now, cut short at end (zero: no bound).
func until(now time.Time, life time.Duration, end time.Time) time.Duration {
	if !end.IsZero() && now.Add(life).After(end) {
		return max(end.Sub(now), 0)
	}
	return life
}
