package durability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

// workload pushes small unique images while faults happen, and remembers
// exactly what the server acknowledged: a manifest answered 201 is
// committed and must survive; any other answer must be a clean error.
type workload struct {
	c *client

	mu        sync.Mutex
	rng       *rand.Rand
	seq       int
	committed []pushed
	requests  int
	failures  map[int]int // status -> count of error answers
	transport int         // requests without an answer (the server died)
	unclean   []string    // error answers without an OCI error body
	// tags > 0 reuses that many tags (w0, w1, ...), so pushes untag older
	// manifests for the collector; verifyTags then checks what they point at.
	tags int
}

// pushed is an image whose manifest the server acknowledged.
type pushed struct {
	tag      string
	manifest []byte
	blobs    [][]byte
}

func newWorkload(c *client, seed uint64) *workload {
	return &workload{c: c, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), failures: map[int]int{}}
}

// plan draws the next image: a config, a layer of 1 KiB to 2 MiB sent
// monolithically or in 1-4 PATCHes, and a tag.
func (w *workload) plan() (tag string, config, layer []byte, chunks int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	tag = fmt.Sprintf("w%d", w.seq)
	if w.tags > 0 {
		tag = fmt.Sprintf("w%d", w.seq%w.tags)
	}
	size := 1<<10 + w.rng.IntN(2<<20)
	layer = make([]byte, size)
	for i := range layer {
		layer[i] = byte(w.rng.Uint32())
	}
	config = []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","tag":%q}`, tag))
	return tag, config, layer, w.rng.IntN(5)
}

// record notes one answer (or transport error); it returns whether the
// request succeeded with want.
func (w *workload) record(resp *http.Response, err error, want int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.requests++
	if err != nil {
		w.transport++
		return false
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr != nil {
		w.transport++
		return false
	}
	if resp.StatusCode == want {
		return true
	}
	w.failures[resp.StatusCode]++
	if !cleanError(resp.StatusCode, body) {
		w.unclean = append(w.unclean, fmt.Sprintf("%s %s: %s %q", resp.Request.Method, resp.Request.URL.Path, resp.Status, body))
	}
	return false
}

// cleanError: a 4xx/5xx with the OCI error body and a message.
func cleanError(status int, body []byte) bool {
	var e struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	return status >= 400 && json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 && e.Errors[0].Code != "" && e.Errors[0].Message != ""
}

// pushOne pushes one image; it reports whether its manifest was committed.
func (w *workload) pushOne() bool {
	tag, config, layer, chunks := w.plan()
	c := w.c
	if !w.pushBlob(config, 0) || !w.pushBlob(layer, chunks) {
		return false
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.FromBytes(config), "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest.FromBytes(layer), "size": len(layer)}},
	})
	req, _ := http.NewRequest(http.MethodPut, c.repoURL("manifests/"+tag), bytes.NewReader(m))
	resp, err := c.send(req, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if !w.record(resp, err, http.StatusCreated) {
		return false
	}
	w.mu.Lock()
	w.committed = append(w.committed, pushed{tag: tag, manifest: m, blobs: [][]byte{config, layer}})
	w.mu.Unlock()
	return true
}

// pushBlob sends b monolithically (chunks 0) or in a session of chunks PATCHes.
func (w *workload) pushBlob(b []byte, chunks int) bool {
	c, d := w.c, digest.FromBytes(b)
	if chunks == 0 {
		req, _ := http.NewRequest(http.MethodPost, c.repoURL("blobs/uploads/?digest="+d.String()), bytes.NewReader(b))
		resp, err := c.send(req, "Content-Type", "application/octet-stream")
		return w.record(resp, err, http.StatusCreated)
	}
	req, _ := http.NewRequest(http.MethodPost, c.repoURL("blobs/uploads/"), nil)
	resp, err := c.send(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		w.record(resp, err, http.StatusAccepted)
		return false
	}
	loc := resp.Header.Get("Location")
	w.record(resp, nil, http.StatusAccepted)
	if !strings.HasPrefix(loc, "http") {
		loc = c.base + loc
	}
	step := (len(b) + chunks - 1) / chunks
	for off := 0; off < len(b); off += step {
		end := min(off+step, len(b))
		req, _ := http.NewRequest(http.MethodPatch, loc, bytes.NewReader(b[off:end]))
		req.ContentLength = int64(end - off)
		resp, err := c.send(req, "Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("%d-%d", off, end-1))
		if !w.record(resp, err, http.StatusAccepted) {
			return false
		}
		loc = resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "http") {
			loc = c.base + loc
		}
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, _ = http.NewRequest(http.MethodPut, loc+sep+"digest="+d.String(), nil)
	resp, err = c.send(req)
	return w.record(resp, err, http.StatusCreated)
}

// verify checks that every acknowledged image is intact: manifest by tag
// byte for byte, every blob by digest.
func (w *workload) verify(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	committed := append([]pushed(nil), w.committed...)
	w.mu.Unlock()
	for _, p := range committed {
		resp := w.c.do(t, http.MethodGet, w.c.repoURL("manifests/"+p.tag), nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
		if body := expect(t, resp, http.StatusOK); !bytes.Equal(body, p.manifest) {
			t.Fatalf("manifest %s changed after the fault:\n%s", p.tag, body)
		}
		for _, b := range p.blobs {
			w.c.checkBlob(t, digest.FromBytes(b), int64(len(b)))
		}
	}
}

// verifyTags checks every tag that a push to was acknowledged: it resolves,
// and every blob its manifest references is there and hashes to its digest.
// (Which push a moved tag shows depends on the order the server took them in.)
func (w *workload) verifyTags(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	tags := map[string]bool{}
	for _, p := range w.committed {
		tags[p.tag] = true
	}
	w.mu.Unlock()
	for tag := range tags {
		resp := w.c.do(t, http.MethodGet, w.c.repoURL("manifests/"+tag), nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
		body := expect(t, resp, http.StatusOK)
		var m struct {
			Config struct {
				Digest digest.Digest `json:"digest"`
				Size   int64         `json:"size"`
			} `json:"config"`
			Layers []struct {
				Digest digest.Digest `json:"digest"`
				Size   int64         `json:"size"`
			} `json:"layers"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("manifest %s: %v", tag, err)
		}
		w.c.checkBlob(t, m.Config.Digest, m.Config.Size)
		for _, l := range m.Layers {
			w.c.checkBlob(t, l.Digest, l.Size)
		}
	}
}

// checkClean fails the test if any error answer lacked an OCI error body.
func (w *workload) checkClean(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.unclean) > 0 {
		t.Fatalf("%d error answers without a clean OCI error body, e.g.:\n%s", len(w.unclean), strings.Join(w.unclean[:min(5, len(w.unclean))], "\n"))
	}
}

// summary is one line of figures for the test log.
func (w *workload) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var codes []string
	for st, n := range w.failures {
		codes = append(codes, fmt.Sprintf("%d×%d", n, st))
	}
	sort.Strings(codes)
	return fmt.Sprintf("%d requests, %d images acknowledged, error answers [%s], %d without an answer",
		w.requests, len(w.committed), strings.Join(codes, " "), w.transport)
}
