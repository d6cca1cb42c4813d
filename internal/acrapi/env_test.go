package acrapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/acrapi"
	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
	"github.com/moat-registry/moat/internal/target"
	"github.com/opencontainers/go-digest"
)

var ctx = context.Background()

const suffix = "reg.test"

// env is the /acr/v1/ handler on a real SQLite store with registry alpha,
// behind a gate that records what each request needed.
type env struct {
	t    testing.TB
	srv  *httptest.Server
	meta *sqlite.Store
	gate *recordingGate
}

// recordingGate grants everything and records the access each request needed.
type recordingGate struct {
	needs []token.Access
	deny  bool // answer 401 instead
}

func (g *recordingGate) Authorize(r *http.Request, needs []token.Access) (string, error) {
	g.needs = append(g.needs, needs...)
	if g.deny {
		return "", errcode.New(errcode.Unauthorized, "authentication required")
	}
	return "someone", nil
}

func (g *recordingGate) MayList(*http.Request, string, *regindex.Registry) bool { return true }

func newEnv(t testing.TB) *env {
	t.Helper()
	m, err := sqlite.Open(t.TempDir() + "/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.CreateRegistry(ctx, &meta.Registry{Key: "alpha", Name: "Alpha", Subscription: "s", ResourceGroup: "rg", Location: "l", SKU: "Premium"}); err != nil {
		t.Fatal(err)
	}
	idx, err := regindex.New(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	a, err := addressing.New(suffix, "")
	if err != nil {
		t.Fatal(err)
	}
	idx.SetAddressing(a)
	e := &env{t: t, meta: m, gate: &recordingGate{}}
	h := &acrapi.Handler{Meta: m, Auth: e.gate,
		LoginServer: func(r *http.Request, reg *meta.Registry) string {
			if _, ok := a.HostRegistry(r.Host); ok {
				return a.LoginServer(reg.Key)
			}
			return r.Host + "/" + reg.Key
		}}
	e.srv = httptest.NewServer(target.Middleware(idx, h))
	t.Cleanup(e.srv.Close)
	return e
}

// manifest is a stored manifest with the properties a push records.
func manifest(seed string) *meta.Manifest {
	c := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","x":"` + seed + `"}`)
	return &meta.Manifest{Digest: digest.FromBytes(c), MediaType: "application/vnd.oci.image.manifest.v1+json", Content: c,
		Props: &meta.ManifestProps{ConfigMediaType: "application/vnd.oci.image.config.v1+json", ImageSize: int64(100 + len(seed)),
			Platform: meta.Platform{Architecture: "amd64", OS: "linux"}}}
}

func (e *env) put(repo string, m *meta.Manifest, tags ...string) {
	e.t.Helper()
	if err := e.meta.PutManifest(ctx, "alpha", repo, m, tags...); err != nil {
		e.t.Fatal(err)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
	desc   string
}

// do sends a request; host "" is path style (the server's address).
func (e *env) do(method, host, path, body string) *response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := &response{status: resp.StatusCode, header: resp.Header, body: b, desc: fmt.Sprintf("%s %s (Host %q) -> %d %s", method, path, host, resp.StatusCode, b)}
	if r.status >= 500 {
		e.t.Fatalf("server error: %s", r.desc)
	}
	return r
}

// json sends a request that must answer status, and decodes the answer.
func (e *env) json(method, host, path, body string, status int, out any) *response {
	e.t.Helper()
	r := e.do(method, host, path, body)
	if r.status != status {
		e.t.Fatalf("want %d: %s", status, r.desc)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%v: %s", err, r.desc)
		}
	}
	return r
}

// wantErr checks an error answer's status and ACR error code.
func (e *env) wantErr(r *response, status int, code string) string {
	e.t.Helper()
	var body struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if r.status != status || json.Unmarshal(r.body, &body) != nil || len(body.Errors) == 0 || body.Errors[0].Code != code {
		e.t.Fatalf("want %d %s: %s", status, code, r.desc)
	}
	return body.Errors[0].Message
}
