package mgmt_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/gc"
	"github.com/moat-registry/moat/internal/mgmt"
	blobfs "github.com/moat-registry/moat/internal/store/blob/fs"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
	"github.com/opencontainers/go-digest"
)

func retention(days any, status string) obj {
	return obj{"policies": obj{"retentionPolicy": obj{"days": days, "status": status}}}
}

func TestRetentionPolicy(t *testing.T) {
	e := newEnv(t)
	m := e.createRegistry(t, "premium1", "Premium")
	if get(t, m, "properties", "policies", "retentionPolicy", "status") != "disabled" || get(t, m, "properties", "policies", "retentionPolicy", "days") != float64(7) {
		t.Fatalf("default retention policy: %v", get(t, m, "properties", "policies"))
	}
	for _, c := range []struct {
		props obj
		hint  string
	}{
		{retention(366, "enabled"), "use 0 to 365"},
		{retention(-1, "enabled"), "use 0 to 365"},
		{retention(3, "on"), "use enabled or disabled"},
		{retention("x", "enabled"), ""},
	} {
		status, m := e.do(t, "PATCH", regPath("premium1"), obj{"properties": c.props})
		if status != http.StatusBadRequest || !strings.Contains(get(t, m, "error", "message").(string), c.hint) {
			t.Errorf("%v: %d %v", c.props, status, m)
		}
	}
	m = e.must(t, http.StatusOK, "PATCH", regPath("premium1"), obj{"properties": retention(0, "Enabled")})
	rp := get(t, m, "properties", "policies", "retentionPolicy").(map[string]any)
	if rp["status"] != "enabled" || rp["days"] != float64(0) || rp["lastUpdatedTime"] == nil {
		t.Fatalf("stored policy: %v", rp)
	}
	// Only Premium: a downgrade with the policy enabled is refused, as is enabling it on Standard.
	status, m := e.do(t, "PATCH", regPath("premium1"), obj{"sku": obj{"name": "Standard"}})
	wantErr(t, status, m, 400, "RetentionPolicyNotSupported", "only supported for the SKU Premium")
	e.createRegistry(t, "standard1", "Standard")
	status, m = e.do(t, "PATCH", regPath("standard1"), obj{"properties": retention(3, "enabled")})
	wantErr(t, status, m, 400, "RetentionPolicyNotSupported", "only supported for the SKU Premium")
	e.must(t, http.StatusOK, "PATCH", regPath("standard1"), obj{"properties": retention(3, "disabled")})
	// Another PATCH keeps the policy.
	m = e.must(t, http.StatusOK, "PATCH", regPath("premium1"), obj{"properties": obj{"adminUserEnabled": true}})
	if get(t, m, "properties", "policies", "retentionPolicy", "status") != "enabled" {
		t.Fatalf("policy lost by an unrelated PATCH: %v", get(t, m, "properties", "policies"))
	}
}

func TestGarbageCollectAction(t *testing.T) {
	blobs, err := blobfs.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(h *mgmt.Handler, s *sqlite.Store) {
		h.GC = &gc.Collector{Meta: s, Blobs: blobs, Grace: 0}
	})
	e.createRegistry(t, "premium1", "Premium")
	// An unlinked blob (as after a blob delete).
	ctx := context.Background()
	u, err := blobs.NewUpload(ctx, digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	u.Append(ctx, strings.NewReader("orphan"))
	d := digest.FromString("orphan")
	if _, err := u.Commit(ctx, d); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	path := regPath("premium1") + "/garbageCollect"
	m := e.must(t, http.StatusOK, "POST", path+"?dryRun=true", nil)
	if get(t, m, "result", "blobsDeleted") != float64(1) || get(t, m, "result", "bytesFreed") != float64(6) || get(t, m, "result", "dryRun") != true {
		t.Fatalf("dry run: %v", m)
	}
	if _, err := blobs.Stat(ctx, d); err != nil {
		t.Fatalf("a dry run deleted the blob: %v", err)
	}
	m = e.must(t, http.StatusOK, "POST", path, nil)
	if get(t, m, "result", "blobsDeleted") != float64(1) || get(t, m, "retentionPolicy", "enabled") != false {
		t.Fatalf("run: %v", m)
	}
	if _, err := blobs.Stat(ctx, d); err == nil {
		t.Fatal("the blob survived")
	}
	status, m := e.do(t, "POST", path+"?dryRun=maybe", nil)
	wantErr(t, status, m, 400, "InvalidParameter", "use true or false")
	status, _ = e.do(t, "GET", path, nil)
	if status != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", status)
	}
	status, _ = e.do(t, "POST", regPath("nosuch")+"/garbageCollect", nil)
	if status != http.StatusNotFound {
		t.Fatalf("unknown registry: %d", status)
	}
}
