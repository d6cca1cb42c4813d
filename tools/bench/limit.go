package bench

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
)

// LimitServer is the reference "limit" registry: the least work a registry
// can do for the benchmark's workload. An upload streams to a file while it
// is hashed, is verified and renamed into place; a blob GET is
// http.ServeContent of that file; manifests live in memory. No metadata, no
// auth, one flat blob store for every repository. A connection may open with
// a PROXY protocol header (it is read and its address ignored), so
// --proxy-source runs can be compared too.
type LimitServer struct {
	dir string
	// Durable fsyncs each blob before its rename and the directory after, as
	// a registry that acknowledges only blobs that survive a power loss must
	// (moat does). Off by default: the issue-9 limit is the least work.
	Durable bool

	mu        sync.RWMutex
	manifests map[string]manifest // "<repo>:<tag>" and "<repo>@<digest>"
}

type manifest struct {
	body      []byte
	mediaType string
	digest    string
}

// NewLimitServer stores blobs under dir.
func NewLimitServer(dir string) (*LimitServer, error) {
	for _, d := range []string{"blobs", "uploads"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	return &LimitServer{dir: dir, manifests: map[string]manifest{}}, nil
}

// Serve accepts connections on ln until it is closed.
func (s *LimitServer) Serve(ln net.Listener) error {
	pl := &proxyproto.Listener{Listener: ln, ReadHeaderTimeout: time.Second,
		ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.USE, nil }}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	err := srv.Serve(pl)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// ServeHTTP routes /v2/ requests.
func (s *LimitServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "/v2/" || p == "/v2" {
		w.WriteHeader(http.StatusOK)
		return
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if i := strings.LastIndex(rest, "/blobs/uploads/"); i > 0 {
		s.upload(w, r, rest[:i], rest[i+len("/blobs/uploads/"):])
		return
	}
	if i := strings.LastIndex(rest, "/blobs/"); i > 0 {
		s.blob(w, r, rest[i+len("/blobs/"):])
		return
	}
	if i := strings.LastIndex(rest, "/manifests/"); i > 0 {
		s.manifest(w, r, rest[:i], rest[i+len("/manifests/"):])
		return
	}
	http.NotFound(w, r)
}

func validHex(d string) (string, bool) {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return "", false
	}
	_, err := hex.DecodeString(h)
	return h, err == nil
}

// upload: POST starts (or with ?digest= completes at once), PATCH appends,
// PUT ?digest= appends its body and completes.
func (s *LimitServer) upload(w http.ResponseWriter, r *http.Request, repo, id string) {
	switch {
	case r.Method == http.MethodPost && id == "":
		var b [16]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
		f, err := os.Create(filepath.Join(s.dir, "uploads", id))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		f.Close()
		if d := r.URL.Query().Get("digest"); d != "" {
			s.finish(w, r, repo, id, d)
			return
		}
		w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
		w.Header().Set("Range", "0-0")
		w.WriteHeader(http.StatusAccepted)
	case (r.Method == http.MethodPatch || r.Method == http.MethodPut) && id != "" && !strings.ContainsAny(id, "/."):
		if r.Method == http.MethodPut {
			s.finish(w, r, repo, id, r.URL.Query().Get("digest"))
			return
		}
		f, err := os.OpenFile(filepath.Join(s.dir, "uploads", id), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			http.Error(w, "unknown upload", http.StatusNotFound)
			return
		}
		_, err = io.Copy(f, r.Body)
		st, _ := f.Stat()
		f.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
		w.Header().Set("Range", fmt.Sprintf("0-%d", max(st.Size()-1, 0)))
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, "unsupported upload request", http.StatusMethodNotAllowed)
	}
}

// finish appends the body to the upload, hashes the whole file (only what
// was not hashed while streaming is read back: a PATCHed prefix), verifies
// and renames it into the blob store.
func (s *LimitServer) finish(w http.ResponseWriter, r *http.Request, repo, id, digest string) {
	hexd, ok := validHex(digest)
	if !ok {
		http.Error(w, "digest: want sha256:<64 hex>", http.StatusBadRequest)
		return
	}
	path := filepath.Join(s.dir, "uploads", id)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		http.Error(w, "unknown upload", http.StatusNotFound)
		return
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil { // a PATCHed prefix, usually empty
		f.Close()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, err = io.Copy(io.MultiWriter(f, h), r.Body)
	if err == nil && s.Durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if hex.EncodeToString(h.Sum(nil)) != hexd {
		os.Remove(path)
		http.Error(w, "digest mismatch", http.StatusBadRequest)
		return
	}
	if err := os.Rename(path, filepath.Join(s.dir, "blobs", hexd)); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if s.Durable {
		if err := syncDir(filepath.Join(s.dir, "blobs")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Location", "/v2/"+repo+"/blobs/"+digest)
	w.Header().Set("Docker-Content-Digest", digest)
	w.WriteHeader(http.StatusCreated)
}

func (s *LimitServer) blob(w http.ResponseWriter, r *http.Request, digest string) {
	hexd, ok := validHex(digest)
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(s.dir, "blobs", hexd))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Etag", `"`+digest+`"`)
	http.ServeContent(w, r, "", st.ModTime(), f)
}

func (s *LimitServer) manifest(w http.ResponseWriter, r *http.Request, repo, ref string) {
	key := repo + ":" + ref
	if strings.HasPrefix(ref, "sha256:") {
		key = repo + "@" + ref
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.mu.RLock()
		m, ok := s.manifests[key]
		s.mu.RUnlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", m.mediaType)
		h.Set("Docker-Content-Digest", m.digest)
		h.Set("Content-Length", fmt.Sprint(len(m.body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(m.body)
		}
	case http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256(body)
		m := manifest{body: body, mediaType: r.Header.Get("Content-Type"), digest: "sha256:" + hex.EncodeToString(sum[:])}
		s.mu.Lock()
		s.manifests[key] = m
		s.manifests[repo+"@"+m.digest] = m
		s.mu.Unlock()
		w.Header().Set("Location", "/v2/"+repo+"/manifests/"+m.digest)
		w.Header().Set("Docker-Content-Digest", m.digest)
		w.WriteHeader(http.StatusCreated)
	default:
		http.Error(w, "unsupported", http.StatusMethodNotAllowed)
	}
}

func syncDir(p string) error {
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
