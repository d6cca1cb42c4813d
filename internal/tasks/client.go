package tasks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ZeroUser is the user name that marks a refresh token as the password.
const ZeroUser = "00000000-0000-0000-0000-000000000000"

// Endpoint is where the runner reaches this server: every login server and
// the managed-identity endpoint are served by it, so the runner dials Addr
// whatever host a reference names and sends that host in the request.
type Endpoint struct {
	Scheme string // http or https
	Addr   string // host:port of a public listener
}

// HTTPClient returns a client that dials e.Addr for every host. TLS is not
// verified: the connection goes to this server's own listener.
func (e Endpoint) HTTPClient() *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, e.Addr)
		},
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // our own listener, dialled by address
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Minute}
}

// StatusError is an HTTP failure with the server's answer.
type StatusError struct {
	Op     string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: %d %s: %s", e.Op, e.Status, http.StatusText(e.Status), strings.TrimSpace(e.Body))
}

func statusErr(op string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return &StatusError{Op: op, Status: resp.StatusCode, Body: string(b)}
}

// Authorizer gets a registry access token for scopes on a host ("" = anonymous).
type Authorizer interface {
	Token(ctx context.Context, c *Client, host string, scopes []string) (string, error)
}

// Client is a small OCI distribution client.
type Client struct {
	Endpoint Endpoint
	HTTP     *http.Client
	// Auth chooses the credential for a reference.
	Auth func(r Ref) Authorizer
	mu   sync.Mutex
	toks map[string]string
}

// NewClient returns a client for the endpoint.
func NewClient(e Endpoint, auth func(Ref) Authorizer) *Client {
	return &Client{Endpoint: e, HTTP: e.HTTPClient(), Auth: auth, toks: map[string]string{}}
}

func (c *Client) url(host, path string) string { return c.Endpoint.Scheme + "://" + host + path }

// token returns a cached or new access token for scopes on r's host.
func (c *Client) token(ctx context.Context, r Ref, scopes ...string) (string, error) {
	key := r.Host + " " + strings.Join(scopes, " ")
	c.mu.Lock()
	t, ok := c.toks[key]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	var a Authorizer = anonymous{}
	if c.Auth != nil {
		if x := c.Auth(r); x != nil {
			a = x
		}
	}
	t, err := a.Token(ctx, c, r.Host, scopes)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.toks[key] = t
	c.mu.Unlock()
	return t, nil
}

// do sends a request with the token.
func (c *Client) do(ctx context.Context, method, u, tok string, body io.Reader, size int64, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.HTTP.Do(req)
}

// anonymous asks the token endpoint without credentials.
type anonymous struct{}

func (anonymous) Token(ctx context.Context, c *Client, host string, scopes []string) (string, error) {
	return c.registryToken(ctx, host, scopes, "")
}

// registryToken runs GET /oauth2/token, with a refresh token when given.
func (c *Client) registryToken(ctx context.Context, host string, scopes []string, refresh string) (string, error) {
	q := url.Values{"service": {host}}
	for _, s := range scopes {
		q.Add("scope", s)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(host, "/oauth2/token?"+q.Encode()), nil)
	if err != nil {
		return "", err
	}
	if refresh != "" {
		req.SetBasicAuth(ZeroUser, refresh)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := c.getJSON(req, "token "+host, &out); err != nil {
		return "", err
	}
	return out.AccessToken, nil
}

func (c *Client) getJSON(req *http.Request, op string, out any) error {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusErr(op, resp)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
}

// ManagedIdentity authenticates as a service instance's managed identity:
// the managed-identity endpoint with the instance secret, the exchange for a
// registry refresh token, then the Docker token flow.
type ManagedIdentity struct {
	Secret string
	// ClientID selects a user-assigned identity attached to the instance.
	ClientID string
	mu       sync.Mutex
	fresh    map[string]string // host -> refresh token
}

func (m *ManagedIdentity) Token(ctx context.Context, c *Client, host string, scopes []string) (string, error) {
	m.mu.Lock()
	rt, ok := m.fresh[host]
	m.mu.Unlock()
	if !ok {
		q := url.Values{"api-version": {"2019-08-01"}, "resource": {"https://management.azure.com/"}}
		if m.ClientID != "" {
			q.Set("client_id", m.ClientID)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(host, "/identity/msi/token?"+q.Encode()), nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("X-IDENTITY-HEADER", m.Secret)
		var mi struct {
			AccessToken string `json:"access_token"`
		}
		if err := c.getJSON(req, "managed identity token", &mi); err != nil {
			return "", err
		}
		form := url.Values{"grant_type": {"access_token"}, "service": {host}, "access_token": {mi.AccessToken}}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.url(host, "/oauth2/exchange"), strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		var ex struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := c.getJSON(req, "exchange at "+host, &ex); err != nil {
			return "", err
		}
		rt = ex.RefreshToken
		m.mu.Lock()
		if m.fresh == nil {
			m.fresh = map[string]string{}
		}
		m.fresh[host] = rt
		m.mu.Unlock()
	}
	return c.registryToken(ctx, host, scopes, rt)
}

// Minted gets tokens from a function (registry import: the server signs
// tokens for the import identity with what the caller was checked for).
type Minted func(host string, scopes []string) (string, error)

func (f Minted) Token(_ context.Context, _ *Client, host string, scopes []string) (string, error) {
	return f(host, scopes)
}

const manifestAccept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " +
	"application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"

type manifest struct {
	MediaType string
	Digest    string
	Body      []byte
}

// getManifest fetches a manifest by tag or digest.
func (c *Client) getManifest(ctx context.Context, r Ref, ref, tok string) (*manifest, error) {
	resp, err := c.do(ctx, http.MethodGet, c.url(r.Host, "/v2/"+r.Repo+"/manifests/"+ref), tok, nil, 0, map[string]string{"Accept": manifestAccept})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusErr("GET manifest "+r.Host+"/"+r.Repo+":"+ref, resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	return &manifest{MediaType: resp.Header.Get("Content-Type"), Digest: resp.Header.Get("Docker-Content-Digest"), Body: b}, nil
}

// Exists reports whether a tag or digest exists.
func (c *Client) Exists(ctx context.Context, r Ref) (bool, error) {
	tok, err := c.token(ctx, r, "repository:"+r.Repo+":pull")
	if err != nil {
		return false, err
	}
	resp, err := c.do(ctx, http.MethodHead, c.url(r.Host, "/v2/"+r.Repo+"/manifests/"+r.Reference()), tok, nil, 0, map[string]string{"Accept": manifestAccept})
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, &StatusError{Op: "HEAD manifest " + r.String(), Status: resp.StatusCode}
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

type manifestBody struct {
	MediaType string       `json:"mediaType"`
	Config    *descriptor  `json:"config"`
	Layers    []descriptor `json:"layers"`
	Manifests []descriptor `json:"manifests"`
}

// Copy copies an image or index (all platforms) from src to dst: blobs
// first (skipping those dst has, mounting within one registry), then child
// manifests, then the top manifest under dst's tag or digest.
func (c *Client) Copy(ctx context.Context, src, dst Ref, logf func(string, ...any)) (string, error) {
	d, _, err := c.CopyWith(ctx, src, dst, CopyOptions{}, logf)
	return d, err
}

// CopyOptions change what Copy copies.
type CopyOptions struct {
	// Referrers: also copy the referrers (OCI 1.1 referrers API) of every
	// manifest copied, and theirs in turn, with their blobs, by digest.
	Referrers bool
}

// maxReferrers bounds the referrers one copy follows.
const maxReferrers = 1000

// CopyWith is Copy with options; it also returns the digests of the
// referrers copied (in the order they were pushed).
func (c *Client) CopyWith(ctx context.Context, src, dst Ref, opts CopyOptions, logf func(string, ...any)) (string, []string, error) {
	sameReg := sameRegistry(src, dst)
	stok, err := c.token(ctx, src, "repository:"+src.Repo+":pull")
	if err != nil {
		return "", nil, err
	}
	dscopes := []string{"repository:" + dst.Repo + ":pull,push"}
	if sameReg && src.Repo != dst.Repo {
		dscopes = append(dscopes, "repository:"+src.Repo+":pull")
	}
	dtok, err := c.token(ctx, dst, dscopes...)
	if err != nil {
		return "", nil, err
	}
	cp := &copier{c: c, src: src, dst: dst, stok: stok, dtok: dtok, mount: sameReg, logf: logf}
	top, err := c.getManifest(ctx, src, src.Reference(), stok)
	if err != nil {
		return "", nil, err
	}
	if top.Digest == "" {
		top.Digest = digestOf(top.Body)
	}
	if err := cp.children(ctx, top, 0); err != nil {
		return "", nil, err
	}
	ref := dst.Reference()
	if dst.Digest != "" {
		ref = top.Digest
	}
	if err := cp.putManifest(ctx, ref, top); err != nil {
		return "", nil, err
	}
	if !opts.Referrers {
		return top.Digest, nil, nil
	}
	refs, err := cp.referrers(ctx, append([]string{top.Digest}, cp.copied...))
	if err != nil {
		return "", nil, err
	}
	return top.Digest, refs, nil
}

// referrers copies the referrers of the manifests with the given digests
// (breadth first, each once): a referrer's own blobs and child manifests,
// then the referrer by digest, then its referrers.
func (cp *copier) referrers(ctx context.Context, subjects []string) ([]string, error) {
	seen := map[string]bool{}
	for _, d := range subjects {
		seen[d] = true
	}
	var out []string
	for len(subjects) > 0 {
		subject := subjects[0]
		subjects = subjects[1:]
		descs, err := cp.listReferrers(ctx, subject)
		if err != nil {
			return out, err
		}
		for _, d := range descs {
			if seen[d.Digest] {
				continue
			}
			seen[d.Digest] = true
			if len(out) >= maxReferrers {
				return out, fmt.Errorf("more than %d referrers of %s/%s", maxReferrers, cp.src.Host, cp.src.Repo)
			}
			m, err := cp.c.getManifest(ctx, cp.src, d.Digest, cp.stok)
			if err != nil {
				return out, err
			}
			if err := cp.children(ctx, m, 0); err != nil {
				return out, err
			}
			if err := cp.putManifest(ctx, d.Digest, m); err != nil {
				return out, err
			}
			cp.logf("referrer %s of %s: copied", short(d.Digest), short(subject))
			out = append(out, d.Digest)
			subjects = append(subjects, d.Digest)
		}
	}
	return out, nil
}

// listReferrers reads GET /v2/<repo>/referrers/<digest> on the source,
// following Link: <...>; rel="next" pages. A source without the referrers
// API (404) has none.
func (cp *copier) listReferrers(ctx context.Context, subject string) ([]descriptor, error) {
	c, src := cp.c, cp.src
	u := c.url(src.Host, "/v2/"+src.Repo+"/referrers/"+subject)
	var out []descriptor
	for page := 0; u != "" && page < 100; page++ {
		resp, err := c.do(ctx, http.MethodGet, u, cp.stok, nil, 0, map[string]string{"Accept": "application/vnd.oci.image.index.v1+json"})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusNotFound && page == 0 {
			resp.Body.Close()
			cp.logf("%s/%s does not serve referrers of %s", src.Host, src.Repo, short(subject))
			return nil, nil
		}
		if resp.StatusCode != http.StatusOK {
			err := statusErr("GET referrers "+src.Host+"/"+src.Repo+"@"+subject, resp)
			resp.Body.Close()
			return nil, err
		}
		var idx manifestBody
		err = json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&idx)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("referrers of %s/%s@%s: %v", src.Host, src.Repo, subject, err)
		}
		out = append(out, idx.Manifests...)
		u = nextLink(resp.Header.Get("Link"), resp.Request.URL)
	}
	return out, nil
}

// nextLink resolves the rel="next" target of a Link header ("" if none).
func nextLink(h string, base *url.URL) string {
	for _, part := range strings.Split(h, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
			continue
		}
		target = strings.TrimSpace(target)
		if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
			continue
		}
		ref, err := url.Parse(target[1 : len(target)-1])
		if err != nil {
			return ""
		}
		return base.ResolveReference(ref).String()
	}
	return ""
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// sameRegistry: same host and, in path style, the same first path segment.
// A mount across registries is refused by the server anyway; this only
// avoids asking.
func sameRegistry(a, b Ref) bool {
	if a.Host != b.Host {
		return false
	}
	fa, _, _ := strings.Cut(a.Repo, "/")
	fb, _, _ := strings.Cut(b.Repo, "/")
	return fa == fb || !strings.Contains(a.Repo, "/") || !strings.Contains(b.Repo, "/")
}

type copier struct {
	c          *Client
	src, dst   Ref
	stok, dtok string
	mount      bool
	logf       func(string, ...any)
	// copied are the digests of the child manifests copied so far.
	copied []string
}

func (cp *copier) children(ctx context.Context, m *manifest, depth int) error {
	if depth > 4 {
		return errors.New("manifests nest too deeply")
	}
	var b manifestBody
	if err := json.Unmarshal(m.Body, &b); err != nil {
		return fmt.Errorf("manifest %s is not valid JSON: %v", m.Digest, err)
	}
	if len(b.Manifests) > 0 {
		for _, d := range b.Manifests {
			child, err := cp.c.getManifest(ctx, cp.src, d.Digest, cp.stok)
			if err != nil {
				return err
			}
			if err := cp.children(ctx, child, depth+1); err != nil {
				return err
			}
			if err := cp.putManifest(ctx, d.Digest, child); err != nil {
				return err
			}
			cp.copied = append(cp.copied, d.Digest)
		}
		return nil
	}
	blobs := b.Layers
	if b.Config != nil {
		blobs = append([]descriptor{*b.Config}, blobs...)
	}
	for _, d := range blobs {
		if err := cp.blob(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func (cp *copier) blob(ctx context.Context, d descriptor) error {
	c, dst := cp.c, cp.dst
	resp, err := c.do(ctx, http.MethodHead, c.url(dst.Host, "/v2/"+dst.Repo+"/blobs/"+d.Digest), cp.dtok, nil, 0, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		cp.logf("blob %s: already present", short(d.Digest))
		return nil
	}
	start := c.url(dst.Host, "/v2/"+dst.Repo+"/blobs/uploads/")
	if cp.mount {
		start += "?mount=" + url.QueryEscape(d.Digest) + "&from=" + url.QueryEscape(cp.src.Repo)
	}
	resp, err = c.do(ctx, http.MethodPost, start, cp.dtok, nil, 0, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		cp.logf("blob %s: mounted", short(d.Digest))
		return nil
	}
	if resp.StatusCode != http.StatusAccepted {
		return statusErr("start upload to "+dst.Host+"/"+dst.Repo, resp)
	}
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("upload to %s/%s: no Location: %v", dst.Host, dst.Repo, err)
	}
	get, err := c.do(ctx, http.MethodGet, c.url(cp.src.Host, "/v2/"+cp.src.Repo+"/blobs/"+d.Digest), cp.stok, nil, 0, nil)
	if err != nil {
		return err
	}
	defer get.Body.Close()
	if get.StatusCode != http.StatusOK {
		return statusErr("GET blob "+cp.src.Host+"/"+cp.src.Repo+"@"+d.Digest, get)
	}
	size := d.Size
	if get.ContentLength >= 0 {
		size = get.ContentLength
	}
	q := loc.Query()
	q.Set("digest", d.Digest)
	loc.RawQuery = q.Encode()
	put, err := c.do(ctx, http.MethodPut, loc.String(), cp.dtok, get.Body, size,
		map[string]string{"Content-Type": "application/octet-stream", "Content-Length": strconv.FormatInt(size, 10)})
	if err != nil {
		return err
	}
	defer put.Body.Close()
	if put.StatusCode != http.StatusCreated {
		return statusErr("PUT blob "+dst.Host+"/"+dst.Repo+"@"+d.Digest, put)
	}
	cp.logf("blob %s: copied (%d bytes)", short(d.Digest), size)
	return nil
}

func (cp *copier) putManifest(ctx context.Context, ref string, m *manifest) error {
	c, dst := cp.c, cp.dst
	mt := m.MediaType
	if mt == "" {
		var b manifestBody
		_ = json.Unmarshal(m.Body, &b)
		mt = b.MediaType
	}
	resp, err := c.do(ctx, http.MethodPut, c.url(dst.Host, "/v2/"+dst.Repo+"/manifests/"+ref), cp.dtok, bytes.NewReader(m.Body), int64(len(m.Body)),
		map[string]string{"Content-Type": mt})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return statusErr("PUT manifest "+dst.Host+"/"+dst.Repo+":"+ref, resp)
	}
	return nil
}

// Delete deletes a tag (or a manifest by digest).
func (c *Client) Delete(ctx context.Context, r Ref) error {
	tok, err := c.token(ctx, r, "repository:"+r.Repo+":delete")
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodDelete, c.url(r.Host, "/v2/"+r.Repo+"/manifests/"+r.Reference()), tok, nil, 0, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return statusErr("DELETE "+r.String(), resp)
	}
	return nil
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
