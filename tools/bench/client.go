package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
)

// client talks to one registry: only the host of its base URL is ever
// dialed, and the token realm must be on that same host.
type client struct {
	base   *url.URL
	repo   string
	user   string
	pass   string
	http   *http.Client
	scopes string

	mu      sync.Mutex
	realm   string // token endpoint from the /v2/ challenge; "" when none
	service string
	token   string
}

// newClient returns a client with its own connection pool (a separate "node").
// With proxySource valid, every connection opens with a PROXY protocol v2
// header claiming that source address.
func newClient(cfg *Config, conns int) *client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:               nil, // never an environment proxy: only the given URL is contacted
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	src := cfg.ProxySource
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil || !src.IsValid() {
			return c, err
		}
		return withProxyHeader(c, src)
	}
	host := cfg.base.Host
	hc := &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != host {
			return fmt.Errorf("redirect to %s refused: the benchmark only contacts %s", req.URL.Host, host)
		}
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	return &client{base: cfg.base, repo: cfg.Repository, user: cfg.Username, pass: cfg.Password, http: hc,
		scopes: "repository:" + cfg.Repository + ":pull,push"}
}

// withProxyHeader writes a PROXY protocol v2 header claiming src (port kept
// from the real local address) as the first bytes of c.
func withProxyHeader(c net.Conn, src netip.Addr) (net.Conn, error) {
	local, _ := c.LocalAddr().(*net.TCPAddr)
	remote, _ := c.RemoteAddr().(*net.TCPAddr)
	if local == nil || remote == nil {
		c.Close()
		return nil, errors.New("PROXY header: not a TCP connection")
	}
	dst := remote.AddrPort()
	if src.Is4() != dst.Addr().Unmap().Is4() {
		// The header must name one family; claim the destination in src's family.
		if src.Is4() {
			dst = netip.AddrPortFrom(netip.IPv4Unspecified(), dst.Port())
		} else {
			dst = netip.AddrPortFrom(netip.IPv6Unspecified(), dst.Port())
		}
	}
	h := proxyproto.HeaderProxyFromAddrs(2,
		net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, uint16(local.Port))),
		net.TCPAddrFromAddrPort(netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())))
	if _, err := h.WriteTo(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("PROXY header: %w", err)
	}
	return c, nil
}

func (c *client) url(path string) string {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = ""
	return u.String()
}

// login asks GET /v2/ and, when it answers a Bearer challenge, fetches and
// caches a token for the repository. Without credentials a challenge is an
// error (the benchmark needs push).
func (c *client) login(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/v2/"), nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	drain(resp)
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized:
	default:
		return fmt.Errorf("GET /v2/: %s", resp.Status)
	}
	realm, service, err := parseChallenge(resp.Header.Get("WWW-Authenticate"))
	if err != nil {
		return err
	}
	ru, err := url.Parse(realm)
	if err != nil || ru.Host != c.base.Host {
		return fmt.Errorf("token realm %q is not on %s: refused (only the given URL is contacted)", realm, c.base.Host)
	}
	if c.user == "" {
		return errors.New("the registry asks for a token: give --username and --password")
	}
	c.mu.Lock()
	c.realm, c.service = realm, service
	c.mu.Unlock()
	tok, err := c.fetchToken(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.token = tok
	c.mu.Unlock()
	return nil
}

// authOn reports whether the registry asked for tokens.
func (c *client) authOn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.realm != ""
}

// fetchToken runs one Docker token request (GET realm with Basic credentials).
func (c *client) fetchToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	realm, service := c.realm, c.service
	c.mu.Unlock()
	q := url.Values{"scope": {c.scopes}}
	if service != "" {
		q.Set("service", service)
	}
	sep := "?"
	if strings.Contains(realm, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm+sep+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(c.user, c.pass)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token: %s %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var out struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", fmt.Errorf("token: %v", err)
	}
	if out.AccessToken == "" {
		out.AccessToken = out.Token
	}
	if out.AccessToken == "" {
		return "", errors.New("token: the answer has no token")
	}
	return out.AccessToken, nil
}

// parseChallenge reads realm and service of a Bearer WWW-Authenticate header.
func parseChallenge(h string) (realm, service string, err error) {
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return "", "", fmt.Errorf("GET /v2/ answered 401 without a Bearer challenge (%q)", h)
	}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		if strings.HasPrefix(v, `"`) {
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				break
			}
			rest = v[end+2:]
			v = v[1 : end+1]
		} else {
			v, rest, _ = strings.Cut(v, ",")
		}
		switch strings.TrimSpace(k) {
		case "realm":
			realm = v
		case "service":
			service = v
		}
	}
	if realm == "" {
		return "", "", fmt.Errorf("the Bearer challenge has no realm (%q)", h)
	}
	return realm, service, nil
}

// do sends a request built by mk with the cached token; on a 401 it fetches
// a new token once and retries (mk must be able to build the request again).
func (c *client) do(ctx context.Context, mk func() (*http.Request, error)) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := mk()
		if err != nil {
			return nil, err
		}
		req = req.WithContext(ctx)
		c.mu.Lock()
		tok := c.token
		c.mu.Unlock()
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 || !c.authOn() {
			return resp, nil
		}
		drain(resp)
		tok, err = c.fetchToken(ctx)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.token = tok
		c.mu.Unlock()
	}
}

// drain reads a little of the body (so the connection can be reused) and closes it.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// statusErr describes an unexpected answer with the start of its body.
func statusErr(what string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	return fmt.Errorf("%s: %s %s", what, resp.Status, strings.TrimSpace(string(b)))
}
