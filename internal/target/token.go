package target

import (
	"crypto/subtle"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/oci/errcode"
)

// ZeroUser is the user name that says "the password is a refresh token".
const ZeroUser = "00000000-0000-0000-0000-000000000000"

// MaxTokenForm bounds the body of a token request; real ones are a few KiB.
const MaxTokenForm = 64 << 10

// Grants: how a token request authenticates, i.e. which credential the
// token service checks. They are also the grant label of metrics and audit.
const (
	GrantBasic     = "basic"         // GET with Basic user:password (user, service principal, admin user)
	GrantRefresh   = "refresh_token" // GET with Basic ZeroUser:<token>, or POST grant_type=refresh_token
	GrantPassword  = "password"      // POST grant_type=password with username and password
	GrantExchange  = "access_token"  // POST /oauth2/exchange grant_type=access_token with an identity token
	GrantAnonymous = "anonymous"     // GET without credentials
	GrantInvalid   = "invalid"       // anything else: the token service refuses it
)

// TokenRequest is a token request read once. Where the credential comes from
// (docs/identity.md, "Token requests"):
//
//   - GET /oauth2/token: the parameters are the query's; the credential is the
//     Authorization: Basic header (ZeroUser with a refresh token as password
//     is a refresh grant). A body is not read.
//   - POST /oauth2/token and /oauth2/exchange: the parameters are the
//     urlencoded form body's (the query must still parse, and is otherwise
//     ignored); the credential is the form's, chosen by grant_type
//     (password: username and password; refresh_token: refresh_token;
//     access_token on the exchange: access_token). Other credential fields
//     are ignored by everyone. An Authorization header is refused (400)
//     unless it is Basic and names exactly the form's credential: one
//     request, one credential.
//   - A query or form that does not parse, more than one service, or a body
//     over MaxTokenForm is a 400 before anything else is decided.
type TokenRequest struct {
	// Grant is one of the Grant* values.
	Grant string
	// User and Secret are the credential: a user name (ZeroUser for a refresh
	// token) and its password, refresh token or identity token.
	User, Secret string
	// Scopes are the requested scopes, one per entry; Access are the ones
	// that parse, in order.
	Scopes []string
	Access []token.Access
	// Service is the service parameter ("" when absent).
	Service string
	// OtherAuthorization: a GET carried a non-Basic Authorization header.
	OtherAuthorization bool
	// Params are every parameter of the request (query for GET, form for
	// POST), for the few the token service reads besides the above.
	Params url.Values
	// BodyBytes is how much of the body was read.
	BodyBytes int64
}

// RefreshToken is the refresh token presented, if the grant is a refresh.
func (tr *TokenRequest) RefreshToken() string {
	if tr.Grant == GrantRefresh {
		return tr.Secret
	}
	return ""
}

func badRequest(format string, args ...any) error {
	return errcode.New(errcode.RequestInvalid, format, args...)
}

// parseTokenRequest reads a request to /oauth2/token or /oauth2/exchange.
func parseTokenRequest(w http.ResponseWriter, r *http.Request, kind Kind) (*TokenRequest, error) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("the query string cannot be read: %s; encode it as application/x-www-form-urlencoded", clip(err.Error()))
	}
	tr := &TokenRequest{Params: query}
	if r.Method != http.MethodPost {
		tr.Grant = GrantAnonymous
		if user, pw, ok := r.BasicAuth(); ok {
			tr.Grant, tr.User, tr.Secret = GrantBasic, user, pw
			if user == ZeroUser {
				tr.Grant = GrantRefresh
			}
		} else if r.Header.Get("Authorization") != "" {
			tr.OtherAuthorization = true
		}
		return tr.checked()
	}
	if tr.Params, tr.BodyBytes, err = readForm(w, r); err != nil {
		return nil, err
	}
	form := tr.Params
	switch g := form.Get("grant_type"); {
	case kind == KindExchange && g == GrantExchange:
		tr.Grant, tr.Secret = GrantExchange, form.Get("access_token")
	case kind == KindToken && g == GrantPassword:
		tr.Grant, tr.User, tr.Secret = GrantPassword, form.Get("username"), form.Get("password")
	case kind == KindToken && g == GrantRefresh:
		tr.Grant, tr.User, tr.Secret = GrantRefresh, ZeroUser, form.Get("refresh_token")
	default:
		tr.Grant = GrantInvalid
	}
	if r.Header.Get("Authorization") != "" {
		user, pw, ok := r.BasicAuth()
		if !ok || tr.Grant == GrantExchange || tr.Grant == GrantInvalid || !same(user, tr.User) || !same(pw, tr.Secret) {
			return nil, badRequest("send the credentials once: in the form (grant_type=password with username and password, or grant_type=refresh_token with refresh_token), without an Authorization header, or use GET with Basic credentials")
		}
	}
	return tr.checked()
}

// checked is tr with its scopes split and its service checked, or the 400.
func (tr *TokenRequest) checked() (*TokenRequest, error) {
	if err := tr.scopes(); err != nil {
		return nil, err
	}
	return tr, nil
}

func same(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// scopes splits the scope parameters and checks the service.
func (tr *TokenRequest) scopes() error {
	for _, sc := range tr.Params["scope"] {
		tr.Scopes = append(tr.Scopes, strings.Fields(sc)...)
	}
	switch svc := tr.Params["service"]; len(svc) {
	case 0:
	case 1:
		tr.Service = svc[0]
	default:
		return badRequest("the token request names %d services; send one service (the login server)", len(svc))
	}
	return nil
}

// readForm reads a POST's urlencoded body (another content type has no form).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, int64, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Body == nil || mt != "application/x-www-form-urlencoded" {
		return url.Values{}, 0, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxTokenForm))
	n := int64(len(body))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, n, errcode.New(errcode.RequestInvalid, "the token request's form is larger than %d KiB", MaxTokenForm>>10)
	case err != nil:
		return nil, n, badRequest("the token request's form could not be read: %s", clip(err.Error()))
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, n, badRequest("the token request's form cannot be read: %s; send it as application/x-www-form-urlencoded", clip(err.Error()))
	}
	return form, n, nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
