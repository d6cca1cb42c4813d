package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// errNoIdentity: the registry has no identity service (it is not moat), so
// there is no /oauth2/exchange to measure.
var errNoIdentity = errors.New("no identity service")

// identityToken signs in to moat's identity service on the registry's host
// (password grant for the management API, as `moat login` does) and returns
// the identity token /oauth2/exchange takes.
func (c *client) identityToken(ctx context.Context) (string, error) {
	var md struct {
		Authentication struct {
			Tenant    string
			Audiences []string
		} `json:"authentication"`
	}
	if err := c.getJSON(ctx, http.MethodGet, c.url("/metadata/endpoints"), nil, &md); err != nil || md.Authentication.Tenant == "" {
		return "", fmt.Errorf("%w: %v", errNoIdentity, err)
	}
	form := url.Values{"grant_type": {"password"}, "username": {c.user}, "password": {c.pass},
		"client_id": {"moat-bench"}, "scope": {managementResource(c.url(""), md.Authentication.Audiences) + "/.default"}}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	path := "/identity/" + url.PathEscape(md.Authentication.Tenant) + "/oauth2/v2.0/token"
	if err := c.getJSON(ctx, http.MethodPost, c.url(path), form, &tok); err != nil {
		return "", fmt.Errorf("signing in as %s: %w", c.user, err)
	}
	return tok.AccessToken, nil
}

// exchange runs one POST /oauth2/exchange: an identity token for a
// registry refresh token.
func (c *client) exchange(ctx context.Context, identity string) error {
	c.mu.Lock()
	service := c.service
	c.mu.Unlock()
	form := url.Values{"grant_type": {"access_token"}, "service": {service}, "access_token": {identity}}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := c.getJSON(ctx, http.MethodPost, c.url("/oauth2/exchange"), form, &out); err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	if out.RefreshToken == "" {
		return errors.New("exchange: the answer has no refresh_token")
	}
	return nil
}

// getJSON sends a request (a form body when form is not nil) and decodes a
// 200 answer into out.
func (c *client) getJSON(ctx context.Context, method, u string, form url.Values, out any) error {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusErr(method+" "+req.URL.Path, resp)
	}
	defer resp.Body.Close()
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
}
