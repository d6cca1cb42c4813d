package durability

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// blobData is a deterministic pseudo-random blob: a ChaCha8 stream cut at
// size. It is generated on the fly each time, never held in memory.
type blobData struct {
	seed byte
	size int64
}

// from returns the blob's bytes from offset off to the end.
func (b blobData) from(off int64) io.Reader {
	var seed [32]byte
	seed[0] = b.seed
	r := io.LimitReader(rand.NewChaCha8(seed), b.size)
	if _, err := io.CopyN(io.Discard, r, off); err != nil {
		panic(fmt.Sprintf("blob of %d bytes has no offset %d", b.size, off))
	}
	return r
}

// section returns n bytes of the blob from offset off.
func (b blobData) section(off, n int64) io.Reader { return io.LimitReader(b.from(off), n) }

// prefixDigest is the sha256 of the blob's first n bytes.
func (b blobData) prefixDigest(n int64) digest.Digest {
	h := sha256.New()
	_, _ = io.Copy(h, b.section(0, n)) // a generated stream cannot fail
	return digest.NewDigest(digest.SHA256, h)
}

var digestCache sync.Map // blobData -> digest.Digest

// digest is the blob's sha256, computed by streaming it once.
func (b blobData) digest() digest.Digest {
	if d, ok := digestCache.Load(b); ok {
		return d.(digest.Digest)
	}
	d := b.prefixDigest(b.size)
	digestCache.Store(b, d)
	return d
}

var errAborted = errors.New("body aborted by the test")

// pausedReader reads r until `left` bytes were read, then closes paused and
// blocks until release is closed; after that it fails. It holds a request body
// at a known offset while the test kills the server.
type pausedReader struct {
	r       io.Reader
	left    int64
	once    sync.Once
	paused  chan struct{}
	release chan struct{}
}

func (p *pausedReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		p.once.Do(func() { close(p.paused) })
		<-p.release
		return 0, errAborted
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	p.left -= int64(n)
	return n, err
}

// client speaks the OCI distribution API to one repository of a moat server,
// as the administrator: it gets a token with the Docker token flow (connect)
// and sends it as Bearer on every request.
// Its methods that take t must run in the test goroutine; the others return
// errors so that a request can run in the background while the server dies.
type client struct {
	base string // http://127.0.0.1:PORT, changes when the server restarts
	reg  string
	repo string
	http *http.Client
	// token is the access token for base; a server on a new port needs a new
	// one (tokens are bound to the host they were issued for).
	token atomic.Pointer[string]
}

// newClient connects a client to the repository reg/repo of the server at base.
func newClient(t *testing.T, base, reg, repo string) *client {
	t.Helper()
	c := &client{reg: reg, repo: repo}
	c.http = &http.Client{Transport: &bearerTransport{next: &http.Transport{}, c: c}}
	c.connect(t, base)
	return c
}

// bearerTransport adds the client's current access token to every request.
type bearerTransport struct {
	next http.RoundTripper
	c    *client
}

func (b *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok := b.c.token.Load()
	if tok == nil {
		return nil, errors.New("the client has no access token")
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+*tok)
	return b.next.RoundTrip(req)
}

// connect points the client at the server at base and logs in as admin the
// way docker does: GET /v2/ for the challenge, then the token from its realm
// with Basic credentials for pull and push on the repository. It then checks
// that the token opens /v2/.
func (c *client) connect(t *testing.T, base string) {
	t.Helper()
	plain := &http.Client{Timeout: 30 * time.Second}
	resp, err := plain.Get(base + "/v2/")
	if err != nil {
		t.Fatalf("GET %s/v2/: %v", base, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET %s/v2/ without a token: %s, want 401", base, resp.Status)
	}
	ch, err := parseChallenge(resp.Header.Get("WWW-Authenticate"))
	if err != nil {
		t.Fatalf("GET %s/v2/: %v", base, err)
	}
	q := url.Values{"service": {ch.service}, "scope": {"repository:" + c.reg + "/" + c.repo + ":pull,push"}}
	req, _ := http.NewRequest(http.MethodGet, ch.realm+"?"+q.Encode(), nil)
	req.SetBasicAuth("admin", adminPassword)
	resp, err = plain.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", req.URL, err)
	}
	body := expect(t, resp, http.StatusOK)
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatalf("token answer: %v\n%s", err, body)
	}
	tok := tr.AccessToken
	if tok == "" {
		tok = tr.Token
	}
	if tok == "" {
		t.Fatalf("token answer without a token: %s", body)
	}
	c.base = base
	c.token.Store(&tok)
	expect(t, c.do(t, http.MethodGet, base+"/v2/", nil), http.StatusOK)
}

// challenge is a Bearer WWW-Authenticate challenge.
type challenge struct{ realm, service string }

// parseChallenge reads `Bearer realm="...",service="..."[,...]`.
func parseChallenge(h string) (challenge, error) {
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return challenge{}, fmt.Errorf("WWW-Authenticate %q is not a Bearer challenge", h)
	}
	params := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok {
			params[strings.ToLower(k)] = strings.Trim(v, `"`)
		}
	}
	ch := challenge{realm: params["realm"], service: params["service"]}
	if ch.realm == "" || ch.service == "" {
		return challenge{}, fmt.Errorf("WWW-Authenticate %q lacks realm or service", h)
	}
	return ch, nil
}

// repoURL is the URL of a path under /v2/<registry>/<repo>/.
func (c *client) repoURL(p string) string {
	return c.base + "/v2/" + c.reg + "/" + c.repo + "/" + p
}

func (c *client) send(req *http.Request, hdr ...string) (*http.Response, error) {
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.http.Do(req)
}

// do sends a request and fails the test on a transport error.
func (c *client) do(t *testing.T, method, u string, body io.Reader, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.send(req, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return resp
}

// expect checks the status of resp and returns its body, closing it.
func expect(t *testing.T, resp *http.Response, status int) []byte {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", resp.Request.Method, resp.Request.URL, err)
	}
	if resp.StatusCode != status {
		t.Fatalf("%s %s: got %s, want %d\n%s", resp.Request.Method, resp.Request.URL, resp.Status, status, body)
	}
	return body
}

// startUpload opens an upload session and returns its Location path.
func (c *client) startUpload(t *testing.T) string {
	t.Helper()
	resp := c.do(t, http.MethodPost, c.repoURL("blobs/uploads/"), nil)
	expect(t, resp, http.StatusAccepted)
	loc := resp.Header.Get("Location")
	if loc == "" {
		t.Fatalf("POST blobs/uploads/ answered 202 without Location")
	}
	return loc
}

// uploadID is the last path element of an upload Location.
func uploadID(loc string) string { return path.Base(strings.SplitN(loc, "?", 2)[0]) }

// patch sends n bytes of body at offset start with Content-Range. With n < 0
// it streams the body with chunked transfer encoding and no Content-Range.
func (c *client) patch(loc string, body io.Reader, start, n int64) error {
	req, err := http.NewRequest(http.MethodPatch, c.base+loc, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if n >= 0 {
		req.ContentLength = n
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+n-1))
	} else {
		req.ContentLength = -1
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("PATCH %s: %s\n%s", loc, resp.Status, msg)
	}
	return nil
}

// commitRequest is the PUT ?digest= that ends an upload session.
func (c *client) commitRequest(loc string, d digest.Digest) *http.Request {
	req, _ := http.NewRequest(http.MethodPut, c.base+loc+"?digest="+url.QueryEscape(d.String()), http.NoBody)
	return req
}

func (c *client) commit(t *testing.T, loc string, d digest.Digest) {
	t.Helper()
	resp, err := c.http.Do(c.commitRequest(loc, d))
	if err != nil {
		t.Fatalf("PUT %s?digest=%s: %v", loc, d, err)
	}
	expect(t, resp, http.StatusCreated)
	if got := resp.Header.Get("Docker-Content-Digest"); got != d.String() {
		t.Fatalf("PUT %s: Docker-Content-Digest %q, want %s", loc, got, d)
	}
}

// pushBlob uploads b in a new session with PATCHes of chunk bytes, then commits.
func (c *client) pushBlob(t *testing.T, b blobData, chunk int64) {
	t.Helper()
	loc := c.startUpload(t)
	for off := int64(0); off < b.size; off += chunk {
		n := min(chunk, b.size-off)
		if err := c.patch(loc, b.section(off, n), off, n); err != nil {
			t.Fatal(err)
		}
	}
	c.commit(t, loc, b.digest())
}

// pushBytes uploads a small blob monolithically (POST ?digest=).
func (c *client) pushBytes(t *testing.T, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	resp := c.do(t, http.MethodPost, c.repoURL("blobs/uploads/?digest="+d.String()), bytes.NewReader(data),
		"Content-Type", "application/octet-stream")
	expect(t, resp, http.StatusCreated)
	return d
}

// postMonolithic uploads a blob of size bytes in one POST ?digest=, streaming body.
func (c *client) postMonolithic(d digest.Digest, body io.Reader, size int64) error {
	req, err := http.NewRequest(http.MethodPost, c.repoURL("blobs/uploads/?digest="+d.String()), body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST ?digest=%s: %s\n%s", d, resp.Status, msg)
	}
	return nil
}

// headBlob returns the status of HEAD blobs/<d>.
func (c *client) headBlob(t *testing.T, d digest.Digest) (int, int64) {
	t.Helper()
	resp := c.do(t, http.MethodHead, c.repoURL("blobs/"+d.String()), nil)
	resp.Body.Close()
	return resp.StatusCode, resp.ContentLength
}

// checkBlob GETs blob d and checks its size, digest header and content hash
// while streaming it.
func (c *client) checkBlob(t *testing.T, d digest.Digest, size int64) {
	t.Helper()
	resp := c.do(t, http.MethodGet, c.repoURL("blobs/"+d.String()), nil)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET blob %s: %s\n%s", d, resp.Status, msg)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != d.String() {
		t.Errorf("GET blob %s: Docker-Content-Digest %q", d, got)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatalf("GET blob %s: reading after %d bytes: %v", d, n, err)
	}
	if got := digest.NewDigest(digest.SHA256, h); n != size || got != d {
		t.Fatalf("GET blob %s: got %d bytes with digest %s, want %d bytes", d, n, got, size)
	}
}

// uploadStatus GETs an upload session: 204 and its Range, or the error code.
func (c *client) uploadStatus(t *testing.T, loc string) (status int, rng, code string) {
	t.Helper()
	resp := c.do(t, http.MethodGet, c.base+loc, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
		code = e.Errors[0].Code
	}
	return resp.StatusCode, resp.Header.Get("Range"), code
}

// parseRange parses an upload's "0-<last>" Range header.
func parseRange(s string) (last int64, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found || a != "0" {
		return 0, false
	}
	last, err := strconv.ParseInt(b, 10, 64)
	return last, err == nil && last >= 0
}

// image is a small image pushed completely before the crash.
type image struct {
	blobs    [][]byte
	manifest []byte
	digest   digest.Digest
}

func pushImage(t *testing.T, c *client) image {
	t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer, _ := io.ReadAll(blobData{seed: 1, size: 256 << 10}.from(0))
	desc := func(mt string, b []byte) map[string]any {
		return map[string]any{"mediaType": mt, "digest": c.pushBytes(t, b), "size": len(b)}
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        desc("application/vnd.oci.image.config.v1+json", config),
		"layers":        []any{desc("application/vnd.oci.image.layer.v1.tar", layer)},
	})
	resp := c.do(t, http.MethodPut, c.repoURL("manifests/v1"), bytes.NewReader(m),
		"Content-Type", "application/vnd.oci.image.manifest.v1+json")
	expect(t, resp, http.StatusCreated)
	img := image{blobs: [][]byte{config, layer}, manifest: m, digest: digest.FromBytes(m)}
	if got := resp.Header.Get("Docker-Content-Digest"); got != img.digest.String() {
		t.Fatalf("PUT manifest: Docker-Content-Digest %q, want %s", got, img.digest)
	}
	return img
}

// check GETs the manifest by tag and digest and every blob: all exact.
func (img image) check(t *testing.T, c *client) {
	t.Helper()
	for _, ref := range []string{"v1", img.digest.String()} {
		resp := c.do(t, http.MethodGet, c.repoURL("manifests/"+ref), nil,
			"Accept", "application/vnd.oci.image.manifest.v1+json")
		body := expect(t, resp, http.StatusOK)
		if got := resp.Header.Get("Docker-Content-Digest"); got != img.digest.String() {
			t.Errorf("GET manifest %s: Docker-Content-Digest %q, want %s", ref, got, img.digest)
		}
		if !bytes.Equal(body, img.manifest) {
			t.Errorf("GET manifest %s: content differs from what was pushed:\n%s", ref, body)
		}
	}
	for _, b := range img.blobs {
		c.checkBlob(t, digest.FromBytes(b), int64(len(b)))
	}
}
