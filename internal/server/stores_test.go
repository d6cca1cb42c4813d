package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestStoresInstrumented: the server's stores are the instrumented ones
// (meta.Instrument, blob.Instrument): their failures reach /metrics.
func TestStoresInstrumented(t *testing.T) {
	t.Setenv("MOAT_ADMIN_PASSWORD", "stores-password-1")
	dir := t.TempDir()
	srv, err := New(context.Background(), testConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := os.RemoveAll(filepath.Join(dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.blobs.NewUpload(ctx, ""); err == nil {
		t.Fatal("NewUpload without a blob directory succeeded")
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.meta.GetRegistry(ctx, "x"); err == nil {
		t.Fatal("GetRegistry on a closed store succeeded")
	}
	if n, err := testutil.GatherAndCount(srv.metrics, "moat_store_errors_total"); err != nil || n != 2 {
		t.Fatalf("moat_store_errors_total has %d series on the server's registry (%v), want 2", n, err)
	}
	for _, c := range []struct{ store, op string }{{"blob", "NewUpload"}, {"meta", "GetRegistry"}} {
		if n := testutil.ToFloat64(srv.storeErrs.Counter(c.store, c.op)); n != 1 {
			t.Errorf("moat_store_errors_total{store=%q,op=%q} = %v, want 1", c.store, c.op, n)
		}
	}
}
