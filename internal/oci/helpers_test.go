package oci_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/oci"
	"github.com/moat-registry/moat/internal/regindex"
	blobfs "github.com/moat-registry/moat/internal/store/blob/fs"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
	"github.com/moat-registry/moat/internal/target"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// suffix is the host-style login-server suffix of the test handler.
const suffix = "reg.test"

// The two registries of every test environment. Alpha's resource name is
// mixed-case: requests may name it in any case.
const (
	regA = "alpha"
	regB = "bravo"
)

// env is an in-process moat data plane on real stores.
type env struct {
	srv     *httptest.Server
	meta    *sqlite.Store
	index   *regindex.Index
	handler http.Handler // the handler behind its middleware, as the server mounts it
}

// newEnv builds a handler on a fresh SQLite store and blob directory with the
// registries alpha and bravo, and serves it with httptest.
func newEnv(t testing.TB) *env { t.Helper(); return newEnvWith(t, nil) }

// newEnvWith is newEnv with the handler completed by with (nil: as is).
func newEnvWith(t testing.TB, with func(*oci.Handler)) *env {
	t.Helper()
	dir := t.TempDir()
	m, err := sqlite.Open(dir + "/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := blobfs.New(dir + "/blobs")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	idx, err := regindex.New(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Alpha", "bravo"} {
		r := &meta.Registry{Key: strings.ToLower(name), Name: name, Subscription: "sub", ResourceGroup: "rg", Location: "local", SKU: "Premium"}
		if err := m.CreateRegistry(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := idx.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := addressing.New(suffix, "")
	if err != nil {
		t.Fatal(err)
	}
	idx.SetAddressing(a)
	oh := &oci.Handler{Meta: m, Blobs: b}
	if with != nil {
		with(oh)
	}
	h := oci.APIVersion(target.Middleware(idx, oh))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{srv: srv, meta: m, index: idx, handler: h}
}

// style is one way of addressing registry alpha: path style names its
// repositories "alpha/<repo>" on the server's own host, host style names them
// "<repo>" on alpha.reg.test.
type style struct {
	name   string
	host   string // "" = the server's address (path style)
	prefix string // prepended to repository names
}

var (
	pathStyle = style{"path", "", regA + "/"}
	hostStyle = style{"host", regA + "." + suffix, ""}
	styles    = []style{pathStyle, hostStyle}
)

// repo is the name s uses for repository r.
func (s style) repo(r string) string { return s.prefix + r }

// request is one HTTP request to the test server.
type request struct {
	method string
	host   string // Host header; "" = the server's address
	path   string // path and query, sent as is (no cleaning)
	header map[string]string
	body   []byte
	stream bool // send the body without Content-Length (chunked)
}

// response is a fully read response.
type response struct {
	status int
	header http.Header
	body   []byte
	desc   string // for failure messages
}

// send performs q and checks what every response must satisfy: never a 5xx,
// the API version header, and a well-formed OCI error body on 4xx.
func (e *env) send(t testing.TB, q request) *response {
	t.Helper()
	var body io.Reader = http.NoBody
	if q.body != nil {
		body = bytes.NewReader(q.body)
		if q.stream {
			body = io.MultiReader(bytes.NewReader(q.body)) // hides the length
		}
	}
	req, err := http.NewRequest(q.method, e.srv.URL+q.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if q.stream {
		req.ContentLength = -1
	}
	if q.host != "" {
		req.Host = q.host
	}
	for k, v := range q.header {
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %q): %v", q.method, q.path, q.host, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", q.method, q.path, err)
	}
	r := &response{status: res.StatusCode, header: res.Header, body: b,
		desc: fmt.Sprintf("%s %s (Host %q) -> %d %.300q", q.method, q.path, q.host, res.StatusCode, b)}
	if r.status >= 500 {
		t.Errorf("server error: %s", r.desc)
	}
	if got := r.header.Get("Docker-Distribution-API-Version"); got != "registry/2.0" {
		t.Errorf("Docker-Distribution-API-Version = %q: %s", got, r.desc)
	}
	if r.status >= 400 && q.method != http.MethodHead {
		if err := checkErrorBody(r.header, r.body); err != nil {
			t.Errorf("%v: %s", err, r.desc)
		}
	}
	return r
}

// do sends a request; kv are header names and values.
func (e *env) do(t testing.TB, method, host, path string, body []byte, kv ...string) *response {
	t.Helper()
	q := request{method: method, host: host, path: path, body: body, header: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.header[kv[i]] = kv[i+1]
	}
	return e.send(t, q)
}

// errorBody is the OCI error response format.
type errorBody struct {
	Errors []struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail,omitempty"`
	} `json:"errors"`
}

// checkErrorBody checks that an error response is JSON {"errors":[{code, message}]}.
func checkErrorBody(h http.Header, b []byte) error {
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("error response has Content-Type %q", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var eb errorBody
	if err := dec.Decode(&eb); err != nil {
		return fmt.Errorf("error body is not OCI error JSON: %v", err)
	}
	if dec.More() {
		return fmt.Errorf("error body has trailing data")
	}
	if len(eb.Errors) == 0 {
		return fmt.Errorf("error body lists no errors")
	}
	for _, e := range eb.Errors {
		if e.Code == "" || strings.TrimSpace(e.Message) == "" {
			return fmt.Errorf("error %+v has an empty code or message", e)
		}
	}
	return nil
}

// errCode returns the first error code of an error response.
func errCode(r *response) string {
	var eb errorBody
	if json.Unmarshal(r.body, &eb) != nil || len(eb.Errors) == 0 {
		return ""
	}
	return eb.Errors[0].Code
}

// want checks a response's status.
func want(t testing.TB, r *response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("want %d: %s", status, r.desc)
	}
}

// wantErr checks a response's status and OCI error code.
func wantErr(t testing.TB, r *response, status int, code string) {
	t.Helper()
	if r.status != status || errCode(r) != code {
		t.Fatalf("want %d %s: %s", status, code, r.desc)
	}
}

// pushBlob uploads content monolithically to repository name and returns its digest.
func (e *env) pushBlob(t testing.TB, host, name string, content []byte) digest.Digest {
	t.Helper()
	return e.pushBlobAlg(t, host, name, digest.SHA256, content)
}

func (e *env) pushBlobAlg(t testing.TB, host, name string, alg digest.Algorithm, content []byte) digest.Digest {
	t.Helper()
	d := alg.FromBytes(content)
	r := e.do(t, http.MethodPost, host, "/v2/"+name+"/blobs/uploads/?digest="+d.String(), content)
	want(t, r, http.StatusCreated)
	if got := r.header.Get("Docker-Content-Digest"); got != d.String() {
		t.Fatalf("Docker-Content-Digest = %q, want %s", got, d)
	}
	return d
}

// image is a pushed image manifest with its blobs.
type image struct {
	config, layer ocispec.Descriptor
	manifest      []byte
	digest        digest.Digest
}

// newManifest returns an OCI image manifest of the given descriptors.
func newManifest(t testing.TB, config, layer ocispec.Descriptor, artifactType string, subject *ocispec.Descriptor) []byte {
	t.Helper()
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: artifactType,
		Config: config, Layers: []ocispec.Descriptor{layer}, Subject: subject}
	m.SchemaVersion = 2
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pushImage pushes a config, a layer and a manifest tagged tag (none if "").
func (e *env) pushImage(t testing.TB, host, name, tag, seed string) image {
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","seed":"` + seed + `"}`)
	layer := []byte("layer " + seed)
	im := image{
		config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: e.pushBlob(t, host, name, cfg), Size: int64(len(cfg))},
		layer:  ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: e.pushBlob(t, host, name, layer), Size: int64(len(layer))},
	}
	im.manifest = newManifest(t, im.config, im.layer, "", nil)
	im.digest = digest.FromBytes(im.manifest)
	ref := tag
	if ref == "" {
		ref = im.digest.String()
	}
	r := e.do(t, http.MethodPut, host, "/v2/"+name+"/manifests/"+ref, im.manifest, "Content-Type", ocispec.MediaTypeImageManifest)
	want(t, r, http.StatusCreated)
	return im
}

// decodeIndex decodes a referrers response.
func decodeIndex(t testing.TB, r *response) ocispec.Index {
	t.Helper()
	var idx ocispec.Index
	if err := json.Unmarshal(r.body, &idx); err != nil {
		t.Fatalf("not an image index: %v: %s", err, r.desc)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex || idx.Manifests == nil {
		t.Errorf("bad referrers index: %s", r.desc)
	}
	return idx
}

func itoa(n int) string { return strconv.Itoa(n) }

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
