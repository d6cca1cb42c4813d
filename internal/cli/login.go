package cli

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// `moat login` signs in to a server's identity service, as `az login` signs
// in to Entra ID: it finds the authority with GET /metadata/endpoints, gets a
// token for the management API ("<server URL>/.default": the password grant
// for users, client_credentials for service principals) and keeps the session
// per server in $MOAT_CONFIG_DIR/sessions.json (mode 0600): the access token
// and its expiry, and what renews it: the refresh token of a user, or, as
// az's service principal cache does, the secret of a service principal.
// Every management request then sends the session's token, renewed when it
// has expired. MOAT_ACCESS_TOKEN, when set, is sent instead.

// cliClientID is the client ID the CLI signs in users with: the public
// client ID of the Azure CLI, which moat accepts like any other.
const cliClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

// Principal types of a session, as az prints them under user.type.
const (
	userTypeUser = "user"
	userTypeSP   = "servicePrincipal"
)

// renewBefore: a token that expires sooner than this is renewed first.
const renewBefore = 5 * time.Minute

// session is one server's sign-in.
type session struct {
	Server        string    `json:"server"`
	Tenant        string    `json:"tenantId"`
	TokenEndpoint string    `json:"tokenEndpoint"`
	Resource      string    `json:"resource"`
	ClientID      string    `json:"clientId"`
	UserType      string    `json:"userType"`
	UserName      string    `json:"userName"`
	ObjectID      string    `json:"objectId,omitempty"`
	AccessToken   string    `json:"accessToken"`
	ExpiresOn     time.Time `json:"expiresOn"`
	RefreshToken  string    `json:"refreshToken,omitempty"`
	ClientSecret  string    `json:"clientSecret,omitempty"`
}

type sessionFile struct {
	Sessions map[string]*session `json:"sessions"`
}

func sessionsPath() (string, error) {
	p, err := configPath()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(p), "sessions.json"), nil
}

func loadSessions() (sessionFile, error) {
	sf := sessionFile{Sessions: map[string]*session{}}
	p, err := sessionsPath()
	if err != nil {
		return sf, err
	}
	raw, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return sf, nil
	}
	if err != nil {
		return sf, err
	}
	if err := json.Unmarshal(raw, &sf); err != nil {
		return sf, fmt.Errorf("%s is not valid JSON (remove it and run moat login): %v", p, err)
	}
	if sf.Sessions == nil {
		sf.Sessions = map[string]*session{}
	}
	return sf, nil
}

// loadSession returns the session saved for server base (nil if none).
func loadSession(base string) (*session, error) {
	sf, err := loadSessions()
	if err != nil {
		return nil, err
	}
	return sf.Sessions[base], nil
}

// saveSession stores s (or, when s is nil, forgets the session of base).
func saveSession(base string, s *session) error {
	sf, err := loadSessions()
	if err != nil && s == nil {
		return err
	}
	if err != nil {
		sf = sessionFile{Sessions: map[string]*session{}}
	}
	if s == nil {
		delete(sf.Sessions, base)
	} else {
		sf.Sessions[base] = s
	}
	p, err := sessionsPath()
	if err != nil {
		return err
	}
	return writePrivateJSON(p, sf)
}

// writePrivateJSON writes v to path, readable only by its owner, atomically.
func writePrivateJSON(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writePrivateFile(path, raw)
}

// writePrivateFile writes data (and a newline) to path, readable only by its
// owner, atomically: a crash leaves the old file or the new one.
func writePrivateFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// sessionToken returns the token of the client's session, renewed when it
// expires soon; "" when there is no session.
func (c *client) sessionToken() (string, error) {
	if c.tok != "" {
		return c.tok, nil
	}
	s, err := loadSession(c.base)
	if err != nil || s == nil {
		return "", err
	}
	if time.Until(s.ExpiresOn) < renewBefore {
		if err := c.renew(s); err != nil {
			return "", err
		}
		if err := saveSession(c.base, s); err != nil {
			return "", err
		}
	}
	c.tok = s.AccessToken
	return c.tok, nil
}

// renew gets a new access token for the session: with the refresh token of
// a user, with the secret of a service principal.
func (c *client) renew(s *session) error {
	tr, err := c.requestToken(s, s.Resource)
	if err != nil {
		return fmt.Errorf("the sign-in of %s to %s has expired and could not be renewed (%v); run 'moat login' again", s.UserName, c.base, err)
	}
	s.AccessToken, s.ExpiresOn = tr.AccessToken, tr.expiresOn()
	if tr.RefreshToken != "" {
		s.RefreshToken = tr.RefreshToken
	}
	return nil
}

// requestToken asks the session's authority for a token for resource.
func (c *client) requestToken(s *session, resource string) (*tokenResponse, error) {
	form := url.Values{"client_id": {s.ClientID}}
	switch {
	case s.UserType == userTypeSP:
		form.Set("grant_type", "client_credentials")
		form.Set("client_secret", s.ClientSecret)
		form.Set("scope", resource+"/.default")
	case s.RefreshToken != "":
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", s.RefreshToken)
		form.Set("scope", resource+"/.default offline_access openid profile")
	default:
		return nil, errors.New("the session has no refresh token")
	}
	return c.tokenRequest(s.TokenEndpoint, form)
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	received     time.Time
}

func (t *tokenResponse) expiresOn() time.Time {
	if t.ExpiresIn <= 0 {
		return t.received.Add(time.Hour)
	}
	return t.received.Add(time.Duration(t.ExpiresIn) * time.Second)
}

// tokenRequest posts an OAuth 2.0 token request. Errors are the authority's
// description (e.g. "AADSTS50126: Error validating credentials ...").
func (c *client) tokenRequest(endpoint string, form url.Values) (*tokenResponse, error) {
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, raw, err := c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			if e.Description == "" {
				e.Description = e.Error
			}
			return nil, errors.New(e.Description)
		}
		return nil, fmt.Errorf("the token endpoint %s answered %s", endpoint, resp.Status)
	}
	tr := &tokenResponse{received: start}
	if err := json.Unmarshal(raw, tr); err != nil || tr.AccessToken == "" {
		return nil, fmt.Errorf("the token endpoint %s answered without an access token", endpoint)
	}
	return tr, nil
}

// signInError is the one line printed for a 401 of the management API:
// what to run to sign in. detail is the server's message.
func (c *client) signInError(detail string) error {
	msg := ""
	switch s, _ := loadSession(c.base); {
	case os.Getenv("MOAT_ACCESS_TOKEN") != "":
		msg = fmt.Sprintf("the moat server at %s refused the token in MOAT_ACCESS_TOKEN (%s); unset it and run 'moat login', or set a valid token", c.base, detail)
	case s != nil:
		msg = fmt.Sprintf("the moat server at %s refused the sign-in of %s (%s); run 'moat login' again", c.base, s.UserName, detail)
	default:
		msg = fmt.Sprintf("not signed in to the moat server at %s: run 'moat login --server %s -u USER -p PASSWORD' (or 'moat login --service-principal -u APPID -p SECRET')", c.base, c.base)
	}
	return &apiError{Status: http.StatusUnauthorized, Message: strings.ReplaceAll(msg, " ()", "")}
}

// tenantTokenEndpoint is the token endpoint of tenant at the authority
// login. A moat server advertises its authority ADFS-shaped (<base>/adfs, for
// az), which has no tenant in its paths; the CLI signs in at the same
// authority's tenant endpoints (<base>/identity/{tenant}), which refuse a
// tenant that is not the server's.
func tenantTokenEndpoint(login, tenant string) string {
	login = strings.TrimSuffix(login, "/")
	if base, ok := strings.CutSuffix(login, "/adfs"); ok {
		login = base + "/identity"
	}
	return login + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
}

// metadata is what GET /metadata/endpoints says.
type metadata struct {
	Name           string `json:"name"`
	Authentication struct {
		LoginEndpoint string   `json:"loginEndpoint"`
		Audiences     []string `json:"audiences"`
		Tenant        string   `json:"tenant"`
	} `json:"authentication"`
	Suffixes struct {
		ACRLoginServer string `json:"acrLoginServer"`
	} `json:"suffixes"`
}

// metadata reads the server's /metadata/endpoints (unauthenticated).
func (c *client) metadata() (*metadata, error) {
	req, err := http.NewRequest(http.MethodGet, c.base+"/metadata/endpoints?api-version=2022-09-01", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, raw, err := c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	var md metadata
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &md) != nil || md.Authentication.LoginEndpoint == "" {
		return nil, fmt.Errorf("%s/metadata/endpoints answered %s without a login endpoint: is %s a moat server?", c.base, resp.Status, c.base)
	}
	return &md, nil
}

// jwtClaims reads the claims of a JWT without verifying it (for display:
// who the token is for, and when it expires).
func jwtClaims(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

func newLogin() *cobra.Command {
	return leaf(spec{
		use: "login", short: "Sign in to a moat server (a user with a password, or a service principal with its secret)",
		example: "  moat login --server https://moat.example.com -u admin -p <password>\n" +
			"  moat login -u alice@example.com -p -   (reads the password from standard input)\n" +
			"  moat login --service-principal -u <appId> -p <secret> --tenant <tenant>",
		flags: func(cmd *cobra.Command) {
			cmd.Flags().StringP("username", "u", "", "user principal name, or the appId of a service principal")
			cmd.Flags().StringP("password", "p", "", `password, or the secret of a service principal; "-" reads it from standard input`)
			cmd.Flags().Bool("service-principal", false, "sign in as a service principal (-u appId, -p secret)")
			cmd.Flags().StringP("tenant", "t", "", "tenant ID (default: the server's)")
			cmd.Flags().Bool("allow-no-subscriptions", false, "accepted for az compatibility: every moat server has a subscription")
		},
		required: []string{"username/-u"},
		run:      runLogin,
	})
}

func runLogin(x *exec) (any, error) {
	c := x.c
	pw, err := x.password()
	if err != nil {
		return nil, err
	}
	md, err := c.metadata()
	if err != nil {
		return nil, err
	}
	tenant := md.Authentication.Tenant
	if t := x.str("tenant"); t != "" {
		tenant = t
	}
	// The token is for the management API's audience that the server
	// reports (its configured public URL), whatever URL reached it.
	resource := c.base
	if auds := md.Authentication.Audiences; len(auds) > 0 && auds[0] != "" {
		resource = strings.TrimRight(auds[0], "/")
	}
	s := &session{Server: c.base, Tenant: tenant, TokenEndpoint: tenantTokenEndpoint(md.Authentication.LoginEndpoint, tenant),
		Resource: resource, UserName: x.str("username")}
	form := url.Values{}
	if sp, _ := x.cmd.Flags().GetBool("service-principal"); sp {
		s.UserType, s.ClientID, s.ClientSecret = userTypeSP, s.UserName, pw
		form.Set("grant_type", "client_credentials")
		form.Set("client_id", s.UserName)
		form.Set("client_secret", pw)
		form.Set("scope", s.Resource+"/.default")
	} else {
		s.UserType, s.ClientID = userTypeUser, cliClientID
		form.Set("grant_type", "password")
		form.Set("client_id", cliClientID)
		form.Set("username", s.UserName)
		form.Set("password", pw)
		form.Set("scope", s.Resource+"/.default offline_access openid profile")
		form.Set("client_info", "1")
	}
	tr, err := c.tokenRequest(s.TokenEndpoint, form)
	if err != nil {
		return nil, err
	}
	s.AccessToken, s.RefreshToken, s.ExpiresOn = tr.AccessToken, tr.RefreshToken, tr.expiresOn()
	if oid, _ := jwtClaims(tr.AccessToken)["oid"].(string); oid != "" {
		s.ObjectID = oid
	}
	if tid, _ := jwtClaims(tr.AccessToken)["tid"].(string); tid != "" {
		s.Tenant = tid
	}
	if err := saveSession(c.base, s); err != nil {
		return nil, err
	}
	// The server signed in to becomes the default of later commands, and
	// the CA it was trusted with is remembered for it.
	if err := rememberLogin(c.base, c.caPEM); err != nil {
		return nil, err
	}
	c.tok = s.AccessToken
	cur, err := c.subscription()
	if err != nil {
		return nil, err
	}
	subs, err := c.subscriptions()
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, sub := range subs {
		v := accountView(sub, cur)
		v["cloudName"] = "moat"
		c.addIdentity(v, s)
		out = append(out, v)
	}
	return out, nil
}

// password is --password: "-" (or no --password when standard input is not a
// terminal) reads one line from standard input.
func (x *exec) password() (string, error) {
	pw := x.str("password")
	if x.changed("password") && pw != "-" {
		if pw == "" {
			return "", errors.New("the password is empty: give --password/-p, or -p - to read it from standard input")
		}
		return pw, nil
	}
	in := x.cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && pw != "-" {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return "", errors.New("the following arguments are required: --password/-p (or -p - to read it from standard input)")
		}
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the password from standard input: %v", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input: give --password/-p, or pipe it with -p -")
	}
	return line, nil
}

// addIdentity adds who is signed in (tenantId, homeTenantId, user) to an
// account view, as az prints them.
func (c *client) addIdentity(v object, s *session) {
	v["managedByTenants"] = []any{}
	if s != nil {
		v["tenantId"], v["homeTenantId"] = s.Tenant, s.Tenant
		v["user"] = object{"name": s.UserName, "type": s.UserType}
		return
	}
	if t := os.Getenv("MOAT_ACCESS_TOKEN"); t != "" {
		cl := jwtClaims(t)
		name, typ := str(cl, "upn"), userTypeUser
		if name == "" {
			name, typ = str(cl, "appid"), userTypeSP
		}
		if tid := str(cl, "tid"); tid != "" {
			v["tenantId"], v["homeTenantId"] = tid, tid
		}
		if name != "" {
			v["user"] = object{"name": name, "type": typ}
		}
		return
	}
	if md, err := c.metadata(); err == nil && md.Authentication.Tenant != "" {
		v["tenantId"], v["homeTenantId"] = md.Authentication.Tenant, md.Authentication.Tenant
	}
}

func newLogout() *cobra.Command {
	return leaf(spec{
		use: "logout", short: "Sign out of the server: forget its session and the CA its login remembered",
		flags: func(cmd *cobra.Command) {
			cmd.Flags().String("username", "", "accepted for az compatibility: the server's one session is forgotten")
		},
		run: func(x *exec) (any, error) {
			s, err := loadSession(x.c.base)
			if err != nil {
				return nil, err
			}
			if s == nil {
				return nil, fmt.Errorf("there is no active session for %s", x.c.base)
			}
			if u := x.str("username"); u != "" && !strings.EqualFold(u, s.UserName) {
				return nil, fmt.Errorf("the session for %s is %s's, not %s's", x.c.base, s.UserName, u)
			}
			if err := saveSession(x.c.base, nil); err != nil {
				return nil, err
			}
			return nil, forgetCA(x.c.base)
		},
	})
}
