package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/blob"
	blobfs "github.com/moat-registry/moat/internal/blob/fs"
	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/meta/sqlite"
	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestStoreErrorsCounted: the wrapped stores count their failures by store
// and method, and not the normal answers (not found).
func TestStoreErrorsCounted(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	errs := newStoreErrors(reg)
	dir := t.TempDir()

	raw, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	m := instrumentMeta(raw, errs)
	if _, err := m.GetRegistry(ctx, "nope"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetRegistry of a missing registry: %v", err)
	}
	if n := testutil.ToFloat64(errs.WithLabelValues("meta", "GetRegistry")); n != 0 {
		t.Fatalf("not found counted as a store error: %v", n)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetRegistry(ctx, "nope"); err == nil || errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetRegistry on a closed store: %v", err)
	}
	if err := m.PutResource(ctx, &meta.Resource{ID: "/x", Type: "t", Body: []byte("{}")}); err == nil {
		t.Fatal("PutResource on a closed store succeeded")
	}
	if n := testutil.ToFloat64(errs.WithLabelValues("meta", "GetRegistry")); n != 1 {
		t.Fatalf(`moat_store_errors_total{store="meta",op="GetRegistry"} = %v, want 1`, n)
	}
	if n := testutil.ToFloat64(errs.WithLabelValues("meta", "PutResource")); n != 1 {
		t.Fatalf(`moat_store_errors_total{store="meta",op="PutResource"} = %v, want 1`, n)
	}

	blobDir := filepath.Join(dir, "blobs")
	rawBlobs, err := blobfs.New(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	b := instrumentBlobs(rawBlobs, errs)
	missing := digest.FromString("missing")
	if _, err := b.Stat(ctx, missing); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat of a missing blob: %v", err)
	}
	// An upload whose bytes are then lost: Append fails in the store.
	u, err := b.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(blobDir); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Append(ctx, strings.NewReader("data")); err == nil {
		t.Fatal("Append after the blob directory was removed succeeded")
	}
	_ = u.Close()
	if _, err := b.NewUpload(ctx, digest.SHA256); err == nil {
		t.Fatal("NewUpload after the blob directory was removed succeeded")
	}
	if n := testutil.ToFloat64(errs.WithLabelValues("blob", "Stat")); n != 0 {
		t.Fatalf("not found counted as a blob store error: %v", n)
	}
	for _, op := range []string{"Append", "NewUpload"} {
		if n := testutil.ToFloat64(errs.WithLabelValues("blob", op)); n != 1 {
			t.Errorf(`moat_store_errors_total{store="blob",op=%q} = %v, want 1`, op, n)
		}
	}
}

// TestStoreErrorsAppendClientGone: a client that goes away mid-body is not
// a store error.
func TestStoreErrorsAppendClientGone(t *testing.T) {
	ctx := context.Background()
	errs := newStoreErrors(prometheus.NewRegistry())
	rawBlobs, err := blobfs.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := instrumentBlobs(rawBlobs, errs).NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Append(ctx, failingReader{}); err == nil {
		t.Fatal("Append of a failing body succeeded")
	}
	if n := testutil.ToFloat64(errs.WithLabelValues("blob", "Append")); n != 0 {
		t.Fatalf("a client read error counted as a store error: %v", n)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }
