package portal

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/auth/token"
)

// Sessions are stateless, so that any node serving the same database serves
// the same session: the session cookie carries the identity token that the
// authority issued at sign-in (its password grant, so sign-ins are recorded
// like every other). Every node verifies it with the shared signing keys,
// and the management API and the registry token exchange accept it as they
// accept the CLI's. The session ends when the token expires (an hour).
const (
	sessionCookie = "moat_portal_session"
	// signinCookie holds the random value that the sign-in form must echo
	// (no session exists yet to bind a CSRF token to).
	signinCookie = "moat_portal_signin"
	// portalClientID is the client the portal signs in as (a public client).
	portalClientID = "moat-portal"
	// tokenScope is the management resource the session's token is for:
	// accepted by the management API and the registry token exchange
	// whatever host name the portal is reached by.
	tokenScope = "https://management.azure.com/.default"
)

// session is a signed-in user.
type session struct {
	Token string // the identity token (the session cookie's value)
	User  string // user principal name, for display
	CSRF  string // the anti-forgery token that every form of the session carries
}

// csrfFor derives the anti-forgery token from the session token: bound to
// the session, unguessable without the (HttpOnly) cookie, needs no state.
func csrfFor(tok string) string {
	sum := sha256.Sum256([]byte("moat-portal-csrf\x00" + tok))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sessionOf returns the request's session when its cookie holds a valid,
// unexpired identity token of this tenant.
func (p *Portal) sessionOf(r *http.Request) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, false
	}
	var claims token.IdentityClaims
	if err := p.Keys.Verify(c.Value, &claims); err != nil || claims.Kind != token.KindIdentity ||
		claims.TenantID != p.Tenant || claims.ObjectID == "" || claims.ExpiresAt == nil || !claims.ExpiresAt.After(time.Now()) {
		return nil, false
	}
	user := claims.UPN
	if user == "" {
		user = claims.Name
	}
	return &session{Token: c.Value, User: user, CSRF: csrfFor(c.Value)}, true
}

// checkCSRF reports whether a POST carries the token bound to its session.
func checkCSRF(r *http.Request, want string) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (p *Portal) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

// signInForm shows the sign-in page with a fresh sign-in anti-forgery value.
func (p *Portal) signInForm(w http.ResponseWriter, r *http.Request, status int, user, msg string) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	p.setCookie(w, r, signinCookie, v, 600)
	next := r.FormValue("next") // from the query (GET) or the form (POST)
	pg := &page{Title: "Sign in", CSRF: v, Errors: map[string]string{}, Form: url.Values{"username": {user}, "next": {next}}}
	if msg != "" {
		pg.Errors["password"] = msg
	}
	p.render(w, status, "signin", pg)
}

// signIn checks the user's password at the authority (the same token
// endpoint, audit and messages as 'moat login') and starts the session.
func (p *Portal) signIn(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(signinCookie)
	if err != nil || c.Value == "" || !checkCSRF(r, c.Value) {
		p.forbidden(w, "The sign-in form has expired or did not come from this portal (its security token is missing). Reload the sign-in page and try again; cookies must be enabled.")
		return
	}
	user := strings.TrimSpace(r.PostFormValue("username"))
	if user == "" || r.PostFormValue("password") == "" {
		p.signInForm(w, r, http.StatusBadRequest, user, "Enter your user name and password.")
		return
	}
	rec := p.form(r, r.Host, "/identity/"+url.PathEscape(p.Tenant)+"/oauth2/v2.0/token", nil, url.Values{
		"grant_type": {"password"}, "client_id": {portalClientID}, "scope": {tokenScope},
		"username": {user}, "password": {r.PostFormValue("password")},
	})
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := readJSON(rec, &out); err != nil || rec.Code != http.StatusOK || out.AccessToken == "" {
		msg, status := "Sign-in failed: the user name or password is wrong.", http.StatusUnauthorized
		if out.Error != "" && out.Error != "invalid_grant" {
			msg = "Sign-in failed: " + out.Description
		}
		if rec.Code == http.StatusTooManyRequests || rec.Code == http.StatusServiceUnavailable {
			// The authority's sign-in limit, or all password check slots
			// busy (docs/security.md): say when to come back.
			status = rec.Code
			w.Header().Set("Retry-After", rec.Header().Get("Retry-After"))
		}
		p.signInForm(w, r, status, user, msg)
		return
	}
	p.setCookie(w, r, signinCookie, "", -1)
	p.setCookie(w, r, sessionCookie, out.AccessToken, out.ExpiresIn)
	next := r.PostFormValue("next")
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") {
		next = Prefix
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut ends the session (a POST with the session's CSRF token).
func (p *Portal) signOut(w http.ResponseWriter, r *http.Request, _ *session) {
	p.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}
