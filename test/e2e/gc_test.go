package e2e

import (
	"fmt"
	"testing"

	"github.com/moat-registry/moat/test/harness"
)

// TestGCWithCrane: images pushed with crane to a registry with the retention
// policy enabled (0 days) on a server of its own with no grace window; an
// image replaced under its tag is collected by `moat acr gc`, everything
// tagged (an image, a multi-platform index and its untagged children) still
// pulls.
func TestGCWithCrane(t *testing.T) {
	shared := moatServer(t)
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(shared.bin, fmt.Sprintf("127.0.0.1:%d", port), t.TempDir(), newPassword())
	s.env = []string{"MOAT_GC_GRACE=0", "MOAT_GC_INTERVAL=0"}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	s.failureLog(t)
	c := newClient(t, "crane")
	c.srv = s
	moat := s.mustMoat
	crane := func(t *testing.T, args ...string) string {
		t.Helper()
		return c.run(t, append(args, "--insecure")...)
	}
	reg := s.createRegistry(t, "gcreg")
	moat(t, "acr", "config", "retention", "update", "--registry", reg, "--status", "enabled", "--days", "0", "--type", "UntaggedManifests", "-o", "none")
	c.runStdin(t, []byte(s.password), "auth", "login", s.addr, "-u", "admin", "--password-stdin")

	old, cur := newTestImage(t, "amd64"), newTestImage(t, "amd64")
	ref := s.ref(reg, "app", ":v1")
	crane(t, "push", imageLayout(t, old, "v1"), ref)
	crane(t, "push", imageLayout(t, cur, "v1"), ref) // old is now untagged
	idx := newTestIndex(t)
	multi := s.ref(reg, "multi", ":latest")
	crane(t, "push", indexLayout(t, idx, "latest"), multi)

	step(t, "dry run", func(t *testing.T) {
		got := moat(t, "acr", "gc", "--name", reg, "--dry-run", "--query", "[result.manifestsDeleted, result.linksRemoved]", "-o", "tsv")
		expectEqual(t, "dry run: manifests, links", got, "1\n2\n")
		expectBytes(t, "old image after the dry run", []byte(crane(t, "manifest", s.ref(reg, "app", "@"+old.manifest.digest))), old.manifest.data)
	})
	step(t, "collect", func(t *testing.T) {
		got := moat(t, "acr", "gc", "--name", reg, "--query", "[result.manifestsDeleted, result.linksRemoved, result.blobsDeleted]", "-o", "tsv")
		expectEqual(t, "run: manifests, links, blobs", got, "1\n2\n2\n")
		c.fail(t, "the untagged image was collected", "manifest", "--insecure", s.ref(reg, "app", "@"+old.manifest.digest))
		c.fail(t, "its layer was collected", "blob", "--insecure", s.ref(reg, "app", "@"+old.layer.digest))
		expectEqual(t, "audit events of type gc", moat(t, "acr", "audit", "list", "--name", reg, "--type", "gc", "--query", "length(@)", "-o", "tsv"), "1\n")
	})
	step(t, "everything tagged still pulls", func(t *testing.T) {
		dir := t.TempDir() + "/pulled"
		crane(t, "pull", "--format", "oci", ref, dir)
		checkLayoutBlob(t, dir, cur.layer, "layer")
		checkLayoutBlob(t, dir, cur.config, "config")
		for _, img := range idx.images {
			expectBytes(t, "index child "+img.arch, []byte(crane(t, "manifest", s.ref(reg, "multi", "@"+img.manifest.digest))), img.manifest.data)
			expectBytes(t, "index child layer "+img.arch, []byte(crane(t, "blob", s.ref(reg, "multi", "@"+img.layer.digest))), img.layer.data)
		}
		expectEqual(t, "a second run finds nothing", moat(t, "acr", "gc", "--name", reg, "--query", "result.manifestsDeleted", "-o", "tsv"), "0\n")
	})
}
