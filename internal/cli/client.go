package cli

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/apiversion"
)

// client calls the management API of one server.
type client struct {
	base string
	http *http.Client
	// subFlag is --subscription (a subscription ID or display name); empty
	// means the default saved by `moat account set`, else the server's first.
	subFlag string
	sub     string
	// debug, when set, gets one line per request (--debug).
	debug io.Writer
	// tok is the session's token once read (see accessToken).
	tok string
	// caPEM is the CA of --ca-file / MOAT_CA_FILE, which moat login remembers.
	caPEM []byte
}

func newClientFor(base, subFlag string) *client {
	return &client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 2 * time.Minute, Transport: transport}, subFlag: subFlag}
}

// transport is the HTTP transport of clients without --ca-file (nil:
// http.DefaultTransport). Tests set it to reach host-style login servers.
var transport http.RoundTripper

// accessToken returns the bearer token to send to the management API of the
// client's server ("" for none): MOAT_ACCESS_TOKEN when set, else the token of
// the session `moat login` saved for the server, renewed when it has expired
// (see login.go).
var accessToken = func(c *client) (string, error) {
	if t := os.Getenv("MOAT_ACCESS_TOKEN"); t != "" {
		return t, nil
	}
	return c.sessionToken()
}

// apiError is an answer of 400 or above, from the ARM error body
// {"error":{"code","message"}} when there is one.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return "(" + e.Code + ") " + e.Message
}

// isStatus reports whether err is an answer of the server with that status.
func isStatus(err error, status int) bool {
	var e *apiError
	return errors.As(err, &e) && e.Status == status
}

// response is a successful answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// send makes one request. path is relative to the server (or an absolute
// URL, as in a nextLink); api-version is added unless already there.
func (c *client) send(method, path string, header map[string]string, body any) (*response, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	u := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		u = c.base + path
	}
	if !strings.Contains(u, "api-version=") && !strings.HasPrefix(path, "/graph/") {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "api-version=" + apiversion.ForClient(strings.SplitN(path, "?", 2)[0])
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	tok, err := accessToken(c)
	if err != nil {
		return nil, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, raw, err := c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
			if resp.StatusCode == http.StatusUnauthorized {
				return nil, c.signInError(e.Error.Message)
			}
			return nil, &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, c.signInError(resp.Status)
		}
		return nil, &apiError{Status: resp.StatusCode, Message: fmt.Sprintf("%s %s: the server answered %s", method, path, resp.Status)}
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: raw}, nil
}

// roundTrip sends req and reads the answer's body (up to 64 MiB), logging
// the request with --debug. A failure to connect says how to fix it.
func (c *client) roundTrip(req *http.Request) (*http.Response, []byte, error) {
	start := time.Now()
	resp, err := c.http.Do(req)
	if c.debug != nil {
		status := "error"
		if err == nil {
			status = resp.Status
		}
		fmt.Fprintf(c.debug, "DEBUG: %s %s -> %s (%s)\n", req.Method, req.URL.Redacted(), status, time.Since(start).Round(time.Millisecond))
	}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		hint := "set --server or MOAT_SERVER"
		var unknownCA x509.UnknownAuthorityError
		if errors.As(err, &unknownCA) {
			hint = "trust the server's CA with --ca-file or MOAT_CA_FILE, e.g. <data-dir>/tls/ca.pem; moat login --ca-file remembers it"
		}
		where := "the moat server at " + c.base
		if !strings.HasPrefix(req.URL.String(), c.base) {
			where = req.URL.Scheme + "://" + req.URL.Host + " (of the moat server at " + c.base + ")"
			if !errors.As(err, &unknownCA) {
				hint = "host-style login servers <registry>.<suffix> need DNS names (e.g. a wildcard record) that lead to the server"
			}
		}
		return nil, nil, fmt.Errorf("cannot reach %s (%s): %v", where, hint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer of %s %s: %v", req.Method, req.URL.Redacted(), err)
	}
	return resp, raw, nil
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (c *client) do(method, path string, body, out any) error {
	resp, err := c.send(method, path, nil, body)
	if err != nil {
		return err
	}
	return decodeBody(resp, out)
}

func decodeBody(resp *response, out any) error {
	if out == nil || len(bytes.TrimSpace(resp.Body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return fmt.Errorf("the server's answer is not the expected JSON: %v", err)
	}
	return nil
}

// object is a JSON object as decoded into Go.
type object = map[string]any

// get reads one resource and its ETag (from the header, else the body's etag).
func (c *client) get(path string) (object, string, error) {
	resp, err := c.send(http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, "", err
	}
	var out object
	if err := decodeBody(resp, &out); err != nil {
		return nil, "", err
	}
	if out == nil {
		out = object{}
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		etag, _ = out["etag"].(string)
	}
	return out, etag, nil
}

// write sends a PUT or PATCH (with If-Match when etag is set) and returns the answer.
func (c *client) write(method, path, etag string, body any) (object, error) {
	var h map[string]string
	if etag != "" {
		h = map[string]string{"If-Match": etag}
	}
	resp, err := c.send(method, path, h, body)
	if err != nil {
		return nil, err
	}
	var out object
	if err := decodeBody(resp, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// list reads a collection ({"value":[...],"nextLink":...}), following nextLink.
func (c *client) list(path string) ([]any, error) {
	all := []any{}
	for page := 0; path != ""; page++ {
		if page == 1000 {
			return nil, fmt.Errorf("listing %s: more than 1000 pages", path)
		}
		var out struct {
			Value    []any  `json:"value"`
			NextLink string `json:"nextLink"`
		}
		if err := c.do(http.MethodGet, path, nil, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Value...)
		path = out.NextLink
	}
	return all, nil
}

// subscriptions lists the server's subscriptions.
func (c *client) subscriptions() ([]object, error) {
	items, err := c.list("/subscriptions")
	if err != nil {
		return nil, err
	}
	var subs []object
	for _, it := range items {
		if o, ok := it.(object); ok {
			subs = append(subs, o)
		}
	}
	return subs, nil
}

// findSubscription returns the ID of the subscription whose ID or display
// name is want (case-insensitive).
func findSubscription(subs []object, want string) (string, bool) {
	for _, s := range subs {
		id, _ := s["subscriptionId"].(string)
		name, _ := s["displayName"].(string)
		if strings.EqualFold(id, want) || (name != "" && strings.EqualFold(name, want)) {
			return id, true
		}
	}
	return "", false
}

// subscription returns the subscription ID commands work in: --subscription,
// else the default saved by `moat account set` for this server, else the
// server's first subscription.
func (c *client) subscription() (string, error) {
	if c.sub != "" {
		return c.sub, nil
	}
	subs, err := c.subscriptions()
	if err != nil {
		return "", err
	}
	want, from := c.subFlag, "--subscription"
	if want == "" {
		want, from = savedSubscription(c.base), "the default set by `moat account set`"
	}
	if want != "" {
		id, ok := findSubscription(subs, want)
		if !ok {
			return "", fmt.Errorf("subscription %q (%s) was not found on the server %s; `moat account list` shows the subscriptions", want, from, c.base)
		}
		c.sub = id
		return id, nil
	}
	if len(subs) == 0 {
		return "", fmt.Errorf("the server %s has no subscription", c.base)
	}
	c.sub, _ = subs[0]["subscriptionId"].(string)
	if c.sub == "" {
		return "", fmt.Errorf("the server %s listed a subscription without a subscriptionId", c.base)
	}
	return c.sub, nil
}

// subPath returns /subscriptions/{sub}.
func (c *client) subPath() (string, error) {
	sub, err := c.subscription()
	if err != nil {
		return "", err
	}
	return "/subscriptions/" + seg(sub), nil
}

// groupPath returns /subscriptions/{sub}/resourceGroups/{rg}.
func (c *client) groupPath(rg string) (string, error) {
	sp, err := c.subPath()
	if err != nil {
		return "", err
	}
	return sp + "/resourceGroups/" + seg(rg), nil
}

// resourcePath returns the path of a resource in a resource group:
// .../resourceGroups/{rg}/providers/{namespace}/{type}/{name}[/{type}/{name}...].
// A trailing type without a name gives a collection.
func (c *client) resourcePath(rg, namespace string, typesNames ...string) (string, error) {
	gp, err := c.groupPath(rg)
	if err != nil {
		return "", err
	}
	p := gp + "/providers/" + namespace
	for _, s := range typesNames {
		p += "/" + seg(s)
	}
	return p, nil
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }
