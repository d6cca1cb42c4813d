package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
)

// healthz answers whether the process is alive: it serves, nothing more.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// readyz answers whether the server can serve requests: the metadata store
// answers a query, the blob store is usable (its directory writable, or its
// S3 bucket reachable with the credentials), and the
// migrations ran (New succeeded). It names no registry data.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	checks := map[string]string{"migrations": "ok", "metadataStore": "ok", "blobStore": "ok"}
	ok := true
	if !s.migrated.Load() {
		checks["migrations"], ok = "pending", false
	}
	if _, err := s.meta.GetResource(ctx, "/moat/readyz"); err != nil && !errors.Is(err, meta.ErrNotFound) {
		checks["metadataStore"], ok = "unreachable", false
		s.storeErrs.Inc("meta", "ping")
	}
	if err := s.blobsReady(ctx); err != nil {
		checks["blobStore"], ok = "unavailable", false
		s.storeErrs.Inc("blob", "ping")
	}
	status, code := "ready", http.StatusOK
	if !ok {
		status, code = "not ready", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "checks": checks})
}

func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".readyz-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_, err = f.Write([]byte("ok"))
	err = errors.Join(err, f.Close(), os.Remove(name))
	return err
}
