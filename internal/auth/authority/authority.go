// Package authority is moat's Entra-ID-compatible authority: OIDC discovery,
// JWKS, the OAuth 2.0 token endpoint (client_credentials, password,
// refresh_token) and an App-Service-shaped managed-identity endpoint, so that
// the Azure SDK's azidentity credentials (through MSAL for Go) obtain tokens
// from moat.
//
// Everything lives under /identity/, except two paths that MSAL builds from
// the authority's host alone (see [Handler.Register]):
//
//   - /common/UserRealm/{user}: MSAL's username/password flow asks it before
//     every password grant (MSAL for Python spells it /common/userrealm/).
//   - /{tenant}/v2.0/.well-known/openid-configuration: MSAL takes the first
//     path segment of the authority URL as the tenant, so for the authority
//     https://host/identity/{tenant} it thinks the tenant is "identity", and
//     when azidentity's confidential credentials pass the real tenant ID it
//     rewrites the authority to https://host/{tenant}. The discovery document
//     served there points back to the endpoints under /identity/.
//
// The same authority is also served ADFS-shaped under /adfs/ (adfs.go), for
// the Azure CLI.
package authority

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/token"
)

// Token lifetimes.
const (
	// AccessTokenLifetime is the lifetime of access and ID tokens.
	AccessTokenLifetime = time.Hour
	// RefreshTokenLifetime is the lifetime of one refresh token; each use
	// returns a new one.
	RefreshTokenLifetime = token.MaxLifetime
	// SessionLifetime bounds a chain of refresh tokens: after it, the user
	// signs in with the password again.
	SessionLifetime = 14 * 24 * time.Hour
)

// Handler serves the authority. Create it with [New].
type Handler struct {
	keys *token.Keys
	dir  *identity.Directory
	mux  *http.ServeMux
	now  func() time.Time
	rec  audit.Recorder // sign-ins (SetRecorder); nil: not recorded
}

// New returns the authority for the directory's tenant, signing with keys.
func New(keys *token.Keys, dir *identity.Directory) *Handler {
	h := &Handler{keys: keys, dir: dir, mux: http.NewServeMux(), now: keys.Now}
	m := h.mux
	m.HandleFunc("/identity/{tenant}/v2.0/.well-known/openid-configuration", h.discovery)
	m.HandleFunc("/{tenant}/v2.0/.well-known/openid-configuration", h.discovery)
	m.HandleFunc("/identity/{tenant}/discovery/v2.0/keys", h.jwks)
	m.HandleFunc("/identity/{tenant}/oauth2/v2.0/token", h.token)
	m.HandleFunc("/identity/{tenant}/oauth2/v2.0/authorize", h.authorize)
	m.HandleFunc("/identity/{tenant}/oauth2/v2.0/devicecode", h.deviceCode)
	m.HandleFunc("/identity/{tenant}/oauth2/v2.0/logout", h.logout)
	m.HandleFunc("/identity/msi/token", h.msiToken)
	m.HandleFunc("/common/UserRealm/{user...}", h.userRealm)
	m.HandleFunc("/common/userrealm/{user...}", h.userRealm) // MSAL for Python's spelling
	h.registerADFS(m)
	m.HandleFunc("/", h.notFound)
	return h
}

// Register mounts the handler on mux: everything under /identity/, plus the
// two paths outside it that MSAL requests (see the package documentation).
func (h *Handler) Register(mux *http.ServeMux) {
	for _, p := range h.Patterns() {
		mux.Handle(p, h)
	}
}

// Patterns are the ServeMux patterns the handler must be mounted at.
func (h *Handler) Patterns() []string {
	return []string{
		"/identity/",
		"/adfs/",
		"/common/UserRealm/",
		"/common/userrealm/",
		"/" + strings.ToLower(h.dir.Tenant) + "/v2.0/.well-known/openid-configuration",
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// hostRE is what a Host header may look like: a DNS name, IPv4 or bracketed
// IPv6 address, and an optional port. URLs in responses are built from it.
var hostRE = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$`)

// base is scheme://host as the client used them, or "" when the Host header
// is not a plain host[:port].
func base(r *http.Request) string {
	if !hostRE.MatchString(r.Host) {
		return ""
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// issuer is the issuer URL of the tenant, as seen by this request's client.
func (h *Handler) issuer(b string) string {
	return b + "/identity/" + h.dir.Tenant + "/v2.0"
}

// tenantOK reports whether the tenant in the path is this server's.
func (h *Handler) tenantOK(r *http.Request) bool {
	return strings.EqualFold(r.PathValue("tenant"), h.dir.Tenant)
}

// Error codes in error_codes, numbered as Entra ID numbers them (AADSTS...).
const (
	codeTenantNotFound     = 90002   // tenant not found
	codeMissingParameter   = 900144  // the request body must contain parameter X
	codeMalformed          = 9002313 // invalid request, malformed or invalid
	codeDuplicateParameter = 90015   // parameter is duplicated
	codeBadCredentials     = 50126   // invalid username or password
	codeBadClientSecret    = 7000215 // invalid client secret
	codeMissingSecret      = 7000218 // client_secret or client_assertion required
	codeInvalidScope       = 70011   // invalid scope
	codeManyResources      = 28000   // scope names more than one resource
	codeDefaultScopeOnly   = 1002012 // client credentials need <resource>/.default
	codeUnsupported        = 70003   // unsupported grant type (or flow)
	codeRevoked            = 50173   // grant revoked (password changed)
	codeSessionExpired     = 700082  // refresh token expired (session too old)
	codeMethod             = 900561  // the endpoint only accepts another method
	codeBusy               = 90033   // the service is temporarily unavailable
	codeUserDisabled       = 50057   // the user account is disabled
	codeAppDisabled        = 7000112 // the application (service principal) is disabled
)

// oauthError is an OAuth 2.0 error response, shaped like Entra ID's.
type oauthError struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	Timestamp   string `json:"timestamp"`
	TraceID     string `json:"trace_id"`
	Correlation string `json:"correlation_id"`
	// retryAfter, when set, is sent as Retry-After (503 answers).
	retryAfter time.Duration
}

func newError(status int, code string, aadsts int, format string, args ...any) *oauthError {
	return &oauthError{Status: status, Code: code, Codes: []int{aadsts},
		Description: fmt.Sprintf("AADSTS%d: ", aadsts) + fmt.Sprintf(format, args...)}
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, e *oauthError) {
	e.Timestamp = h.now().UTC().Format("2006-01-02 15:04:05Z")
	e.TraceID = uuid.NewString()
	e.Correlation = correlationID(w, r)
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="moat"`)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, e.Status, e)
}

// correlationID echoes MSAL's client-request-id (when it is a plain ID) or
// makes a new one.
func correlationID(w http.ResponseWriter, r *http.Request) string {
	id := r.Header.Get("client-request-id")
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		id = uuid.NewString()
	}
	w.Header().Set("client-request-id", id)
	return id
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error","error_description":"could not encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func (h *Handler) badHost(w http.ResponseWriter, r *http.Request) {
	h.writeError(w, r, newError(http.StatusBadRequest, "invalid_request", codeMalformed,
		"The Host header is not a valid host name; moat builds its endpoint URLs from it. Connect using the server's DNS name or IP address."))
}

func (h *Handler) unknownTenant(w http.ResponseWriter, r *http.Request, code string) {
	h.writeError(w, r, newError(http.StatusBadRequest, code, codeTenantNotFound,
		"Tenant '%s' not found. This moat server has one tenant, %s; use it as the tenant ID (moat account show prints it).",
		clip(r.PathValue("tenant")), h.dir.Tenant))
}

func (h *Handler) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	h.writeError(w, r, newError(http.StatusMethodNotAllowed, "invalid_request", codeMethod,
		"%s is not allowed on %s; use %s.", clip(r.Method), clip(r.URL.Path), allow))
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.writeError(w, r, newError(http.StatusNotFound, "not_found", codeMalformed,
		"No identity endpoint at %s. The authority is /identity/{tenant}: discovery at /identity/{tenant}/v2.0/.well-known/openid-configuration, tokens at /identity/{tenant}/oauth2/v2.0/token, managed identities at /identity/msi/token.",
		clip(r.URL.Path)))
}

// clip bounds client-supplied text echoed in error descriptions.
func clip(s string) string {
	const max = 100
	var b strings.Builder
	for i, c := range s {
		if i >= max {
			b.WriteString("...")
			break
		}
		if c < 0x20 || c == 0x7f {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (h *Handler) discovery(w http.ResponseWriter, r *http.Request) {
	h.serveDiscovery(w, r, h.entraEndpoints)
}

// endpoints are the URLs a discovery document names, for one base URL.
type endpoints struct {
	authorize, token, device, logout, jwks string
}

// entraEndpoints are the tenant's endpoints under /identity/{tenant}.
func (h *Handler) entraEndpoints(b string) endpoints {
	t := b + "/identity/" + h.dir.Tenant
	return endpoints{authorize: t + "/oauth2/v2.0/authorize", token: t + "/oauth2/v2.0/token",
		device: t + "/oauth2/v2.0/devicecode", logout: t + "/oauth2/v2.0/logout", jwks: t + "/discovery/v2.0/keys"}
}

// serveDiscovery answers an OpenID Connect discovery request with the
// endpoints ep gives for the request's base URL. Every document names the
// same issuer: one authority, reachable at two roots.
func (h *Handler) serveDiscovery(w http.ResponseWriter, r *http.Request, ep func(base string) endpoints) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.methodNotAllowed(w, r, "GET")
		return
	}
	b := base(r)
	if b == "" {
		h.badHost(w, r)
		return
	}
	if !h.tenantOK(r) {
		h.unknownTenant(w, r, "invalid_tenant")
		return
	}
	e := ep(b)
	host := r.Host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                h.issuer(b),
		"authorization_endpoint":                e.authorize,
		"token_endpoint":                        e.token,
		"device_authorization_endpoint":         e.device,
		"end_session_endpoint":                  e.logout,
		"jwks_uri":                              e.jwks,
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"grant_types_supported":                 []string{"client_credentials", "password", "refresh_token"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "nbf", "auth_time", "name",
			"preferred_username", "upn", "oid", "tid", "ver", "azp", "appid", "idtyp", "xms_mirid"},
		"request_uri_parameter_supported": false,
		"http_logout_supported":           false,
		"frontchannel_logout_supported":   false,
		"tenant_region_scope":             "WW",
		"cloud_instance_name":             host,
		"cloud_graph_host_name":           host,
		"msgraph_host":                    host,
	})
}

func (h *Handler) jwks(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.methodNotAllowed(w, r, "GET")
		return
	}
	if !h.tenantOK(r) {
		h.unknownTenant(w, r, "invalid_tenant")
		return
	}
	writeJSON(w, http.StatusOK, h.keys.JWKS())
}

// userRealm answers MSAL's home-realm discovery: every account is managed
// (no federation), whether or not it exists, so the answer reveals nothing.
func (h *Handler) userRealm(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.methodNotAllowed(w, r, "GET")
		return
	}
	if base(r) == "" {
		h.badHost(w, r)
		return
	}
	user := r.PathValue("user")
	domain := r.Host
	if i := strings.LastIndexByte(user, '@'); i >= 0 && i < len(user)-1 {
		domain = user[i+1:]
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"ver":                 "1.0",
		"account_type":        "Managed",
		"NameSpaceType":       "Managed",
		"domain_name":         clip(domain),
		"cloud_instance_name": r.Host,
		"cloud_audience_urn":  "urn:federation:MicrosoftOnline",
	})
}

func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) {
	h.writeError(w, r, newError(http.StatusBadRequest, "unsupported_response_type", codeUnsupported,
		"moat's identity service has no interactive (browser) sign-in. Use a password (grant_type=password, e.g. UsernamePasswordCredential or `moat login -u`), a service principal secret (grant_type=client_credentials, e.g. ClientSecretCredential or `moat login --service-principal`), or a managed identity."))
}

func (h *Handler) deviceCode(w http.ResponseWriter, r *http.Request) {
	h.writeError(w, r, newError(http.StatusBadRequest, "unsupported_grant_type", codeUnsupported,
		"moat's identity service does not support the device code flow. Use a password (grant_type=password, e.g. UsernamePasswordCredential or `moat login -u`) or a service principal secret (grant_type=client_credentials)."))
}

// logout ends nothing: moat keeps no sign-in session on the server, so
// signing out is forgetting the tokens on the client.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("You are signed out of moat: moat keeps no sign-in session on the server. Discard your tokens to finish signing out.\n"))
}

func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

func logRefusal(r *http.Request, endpoint, reason string, attrs ...any) {
	slog.InfoContext(r.Context(), "identity request refused", append([]any{"endpoint", endpoint, "reason", reason, "remote", r.RemoteAddr}, attrs...)...)
}
