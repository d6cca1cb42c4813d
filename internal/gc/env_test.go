package gc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/gc"
	"github.com/moat-registry/moat/internal/oci"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/blob"
	blobfs "github.com/moat-registry/moat/internal/store/blob/fs"
	blobs3 "github.com/moat-registry/moat/internal/store/blob/s3"
	"github.com/moat-registry/moat/internal/store/blob/s3/s3test"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/postgres/pgtest"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
	"github.com/moat-registry/moat/internal/target"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var ctx = context.Background()

// eachStore runs fn on SQLite with files, on PostgreSQL (MOAT_TEST_POSTGRES)
// with files, and on PostgreSQL with S3 (MOAT_TEST_S3): the embedded default
// and the scaled-out deployment.
func eachStore(t *testing.T, fn func(t *testing.T, m meta.Store, b blob.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		m, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		fn(t, m, fsBlobs(t))
	})
	t.Run("postgres", func(t *testing.T) { fn(t, pgtest.Open(t, pgtest.FreshSchema(t)), fsBlobs(t)) })
	t.Run("postgres+s3", func(t *testing.T) {
		b, err := blobs3.New(ctx, s3test.Config(t))
		if err != nil {
			t.Fatal(err)
		}
		fn(t, pgtest.Open(t, pgtest.FreshSchema(t)), b)
	})
}

func fsBlobs(t testing.TB) blob.Store {
	t.Helper()
	b, err := blobfs.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hookMeta is a real metadata store that can run a step of another party
// just before (or after) one of its calls, to force an interleaving.
type hookMeta struct {
	meta.Store
	beforeLink, beforeSweep, afterSweep func()
}

func once(f *func()) {
	if g := *f; g != nil {
		*f = nil
		g()
	}
}

func (h *hookMeta) LinkBlob(ctx context.Context, reg, repo string, d digest.Digest, size int64) error {
	once(&h.beforeLink)
	return h.Store.LinkBlob(ctx, reg, repo, d, size)
}

func (h *hookMeta) SweepRepository(ctx context.Context, reg, repo string, gen int64, ms, ls []digest.Digest, cut time.Time) (meta.Swept, error) {
	once(&h.beforeSweep)
	sw, err := h.Store.SweepRepository(ctx, reg, repo, gen, ms, ls, cut)
	once(&h.afterSweep)
	return sw, err
}

// hookBlobs is a real blob store that runs a step just before a Delete.
type hookBlobs struct {
	blob.Store
	beforeDelete func()
}

func (h *hookBlobs) Delete(ctx context.Context, d digest.Digest) error {
	once(&h.beforeDelete)
	return h.Store.Delete(ctx, d)
}

// env is a data plane (the real OCI handler over HTTP) and a collector on
// the same stores, with registry "alpha" collected (retention 0 days).
type env struct {
	t     testing.TB
	meta  *hookMeta
	blobs *hookBlobs
	gc    *gc.Collector
	url   string
	reg   string // the registry pushed to
}

func newEnv(t testing.TB, m meta.Store, b blob.Store) *env {
	t.Helper()
	props := `{"policies":{"retentionPolicy":{"days":0,"status":"enabled"}}}`
	for _, name := range []string{"alpha", "beta"} {
		if err := m.CreateRegistry(ctx, &meta.Registry{Key: name, Name: name, Subscription: "s", ResourceGroup: "rg", Location: "l",
			SKU: "Premium", Properties: json.RawMessage(props), CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		props = `{}` // beta has no policy: never collected
	}
	idx, err := regindex.New(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, meta: &hookMeta{Store: m}, blobs: &hookBlobs{Store: b}, reg: "alpha"}
	srv := httptest.NewServer(target.Middleware(idx, &oci.Handler{Meta: e.meta, Blobs: e.blobs}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.gc = &gc.Collector{Meta: e.meta, Blobs: e.blobs, Grace: 0, UploadExpiry: time.Hour}
	return e
}

func (e *env) run() gc.Result {
	e.t.Helper()
	r, err := e.gc.Run(ctx, gc.Options{Wait: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// do sends a request and returns the status and the body.
func (e *env) do(method, path, ctype string, body []byte) (int, []byte, http.Header) {
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// pushBlob pushes data into alpha/<repo> as a client does: a HEAD first
// (skip if present), then a POST and a PUT.
func (e *env) pushBlob(repo string, data []byte) error {
	d := digest.FromBytes(data)
	if st, _, _ := e.do(http.MethodHead, "/v2/"+e.reg+"/"+repo+"/blobs/"+d.String(), "", nil); st == http.StatusOK {
		return nil
	}
	return e.uploadBlob(repo, data)
}

// uploadBlob uploads data without checking whether it is there.
func (e *env) uploadBlob(repo string, data []byte) error {
	st, body, h := e.do(http.MethodPost, "/v2/"+e.reg+"/"+repo+"/blobs/uploads/", "", nil)
	if st != http.StatusAccepted {
		return fmt.Errorf("start upload: %d %s", st, body)
	}
	st, body, _ = e.do(http.MethodPut, h.Get("Location")+"?digest="+digest.FromBytes(data).String(), "application/octet-stream", data)
	if st != http.StatusCreated {
		return fmt.Errorf("finish upload: %d %s", st, body)
	}
	return nil
}

// image is an image manifest and its blobs.
type image struct {
	manifest []byte
	blobs    [][]byte // config first
}

func newImage(config []byte, layers ...[]byte) image {
	desc := func(mt string, b []byte) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: desc(ocispec.MediaTypeImageConfig, config), Layers: []ocispec.Descriptor{}}
	for _, l := range layers {
		m.Layers = append(m.Layers, desc(ocispec.MediaTypeImageLayer, l))
	}
	body, _ := json.Marshal(m)
	return image{manifest: body, blobs: append([][]byte{config}, layers...)}
}

func (i image) digest() digest.Digest { return digest.FromBytes(i.manifest) }

// push pushes the image's blobs then its manifest under ref.
func (e *env) push(repo, ref string, img image) error {
	for _, b := range img.blobs {
		if err := e.pushBlob(repo, b); err != nil {
			return err
		}
	}
	return e.putManifest(repo, ref, ocispec.MediaTypeImageManifest, img.manifest)
}

func (e *env) putManifest(repo, ref, mt string, body []byte) error {
	st, resp, _ := e.do(http.MethodPut, "/v2/"+e.reg+"/"+repo+"/manifests/"+ref, mt, body)
	if st != http.StatusCreated {
		return fmt.Errorf("put manifest %s: %d %s", ref, st, resp)
	}
	return nil
}

// readable checks that every blob of the manifest at ref can be pulled and
// hashes to its digest.
func (e *env) readable(repo, ref string) error {
	st, body, _ := e.do(http.MethodGet, "/v2/"+e.reg+"/"+repo+"/manifests/"+ref, "", nil)
	if st != http.StatusOK {
		return fmt.Errorf("%s:%s: manifest %d %s", repo, ref, st, body)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if d.Digest == "" {
			continue
		}
		st, b, _ := e.do(http.MethodGet, "/v2/"+e.reg+"/"+repo+"/blobs/"+d.Digest.String(), "", nil)
		if st != http.StatusOK || digest.FromBytes(b) != d.Digest {
			return fmt.Errorf("%s:%s: blob %s: status %d, %d bytes hashing to %s", repo, ref, d.Digest, st, len(b), digest.FromBytes(b))
		}
	}
	return nil
}

// in is the env pushing to another registry.
func (e *env) in(reg string) *env {
	o := *e
	o.reg = reg
	return &o
}

func (e *env) blobExists(d digest.Digest) bool {
	_, err := e.blobs.Stat(ctx, d)
	return err == nil
}
