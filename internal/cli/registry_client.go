package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// registryClient calls a registry's data plane (/acr/v1/ and /v2/) as az's
// acr repository and acr manifest commands do: with an access token of the
// registry's token service for each request's scope, got with the session's
// registry refresh token, or with --username and --password.
type registryClient struct {
	c       *client
	url     string // scheme://host of the login server
	service string // the login server
	// prefix is "<registry>/": path style names repositories with it.
	prefix   string
	refresh  string
	user, pw string
	tokens   map[string]string // by scope
}

// registryCredentialFlags are --username/-u and --password/-p.
func registryCredentialFlags(cmd *cobra.Command) {
	cmd.Flags().StringP("username", "u", "", "the user name for the registry (e.g. its admin user) instead of the signed-in session")
	cmd.Flags().StringP("password", "p", "", `the password of --username; "-" reads it from standard input`)
}

// registryClient connects to the data plane of the registry named by flag.
func (x *exec) registryClient(flag string) (*registryClient, error) {
	base, err := url.Parse(x.c.base)
	if err != nil {
		return nil, err
	}
	ls, err := x.loginServerOf(base, flag)
	if err != nil {
		return nil, err
	}
	host, name, pathStyle := strings.Cut(ls, "/")
	rc := &registryClient{c: x.c, url: base.Scheme + "://" + host, service: ls, tokens: map[string]string{}}
	if pathStyle {
		rc.prefix = name + "/"
	}
	if rc.user = x.str("username"); rc.user != "" {
		if rc.pw, err = x.password(); err != nil {
			return nil, err
		}
		return rc, nil
	}
	if rc.refresh, err = x.c.registryRefreshToken(rc.url, ls); err != nil {
		return nil, err
	}
	return rc, nil
}

// token returns an access token for scope.
func (rc *registryClient) token(scope string) (string, error) {
	if t, ok := rc.tokens[scope]; ok {
		return t, nil
	}
	q := url.Values{"service": {rc.service}, "scope": {scope}}
	var req *http.Request
	var err error
	if rc.user != "" {
		if req, err = http.NewRequest(http.MethodGet, rc.url+"/oauth2/token?"+q.Encode(), nil); err == nil {
			req.SetBasicAuth(rc.user, rc.pw)
		}
	} else {
		q.Set("grant_type", "refresh_token")
		q.Set("refresh_token", rc.refresh)
		if req, err = http.NewRequest(http.MethodPost, rc.url+"/oauth2/token", strings.NewReader(q.Encode())); err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return "", err
	}
	resp, raw, err := rc.c.roundTrip(req)
	if err != nil {
		return "", err
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.AccessToken == "" {
		return "", registryAPIError(resp.StatusCode, raw, resp.Status)
	}
	rc.tokens[scope] = out.AccessToken
	return out.AccessToken, nil
}

// registryAPIError is a data-plane refusal as an apiError: "(CODE) message".
func registryAPIError(status int, raw []byte, statusText string) error {
	var e struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if json.Unmarshal(raw, &e) == nil && len(e.Errors) > 0 {
		return &apiError{Status: status, Code: e.Errors[0].Code, Message: e.Errors[0].Message}
	}
	return &apiError{Status: status, Message: "the registry answered " + statusText}
}

// repo is the name of repository in requests (with the registry in path style).
func (rc *registryClient) repo(repository string) string { return rc.prefix + repository }

// do sends one request for scope to path (under the login server's host)
// and decodes a JSON answer into out; it returns the answer's headers.
func (rc *registryClient) do(method, path, scope string, body, out any) (http.Header, error) {
	tok, err := rc.token(scope)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, rc.url+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, raw, err := rc.c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, registryAPIError(resp.StatusCode, raw, resp.Status)
	}
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("the registry's answer to %s %s is not the expected JSON: %v", method, path, err)
		}
	}
	return resp.Header, nil
}

// pageSize is az's page size for the registry's listings.
const pageSize = 100

// list reads a listing of path (items under field), following the registry's
// Link headers, up to top items (0: all), in orderby (az's time_asc or
// time_desc, "" for by name).
func (rc *registryClient) list(path, scope, field string, top int, orderby string) ([]any, error) {
	q := url.Values{"n": {fmt.Sprint(pageSize)}}
	if top > 0 {
		q.Set("n", fmt.Sprint(min(top, pageSize)))
	}
	if orderby != "" {
		q.Set("orderby", map[string]string{"time_asc": "timeasc", "time_desc": "timedesc"}[orderby])
	}
	next := path + "?" + q.Encode()
	all := []any{}
	for pages := 0; next != ""; pages++ {
		if pages == 100000 {
			return nil, fmt.Errorf("listing %s: more than 100000 pages", path)
		}
		var page map[string]any
		h, err := rc.do(http.MethodGet, next, scope, nil, &page)
		if err != nil {
			return nil, err
		}
		items, _ := page[field].([]any)
		all = append(all, items...)
		if top > 0 && len(all) >= top {
			return all[:top], nil
		}
		next = ""
		if link := h.Get("Link"); strings.HasPrefix(link, "<") && strings.Contains(link, ">") {
			next = link[1:strings.IndexByte(link, '>')]
		}
	}
	return all, nil
}
