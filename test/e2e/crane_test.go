package e2e

import (
	"strings"
	"testing"
)

// TestCrane drives moat with crane (go-containerregistry), plain HTTP via
// --insecure, logged in as admin with `crane auth login` (its credentials in
// the private $DOCKER_CONFIG/config.json).
func TestCrane(t *testing.T) {
	c := newClient(t, "crane")
	s := c.srv
	regA := s.createRegistry(t, "cranea")
	regB := s.createRegistry(t, "craneb")
	regC := s.createRegistry(t, "cranec") // stays empty: isolation checks

	crane := func(t *testing.T, args ...string) string {
		t.Helper()
		return c.run(t, append(args, "--insecure")...)
	}
	craneFail := func(t *testing.T, why string, args ...string) string {
		t.Helper()
		return c.fail(t, why, append(args, "--insecure")...)
	}

	img := newTestImage(t, "amd64")
	layout := imageLayout(t, img, "v1")
	repoA := s.ref(regA, "team/app", "")
	refA := repoA + ":v1"
	repoB := s.ref(regB, "team/app", "")

	step(t, "login", func(t *testing.T) {
		c.failUnauthorized(t, "digest", "--insecure", refA)
		c.failUnauthorized(t, "push", "--insecure", layout, refA)
		c.runStdin(t, []byte(s.password), "auth", "login", s.addr, "-u", "admin", "--password-stdin")
		c.expectCredentialFile(t, ".docker/config.json")
	})
	step(t, "push", func(t *testing.T) {
		out := crane(t, "push", layout, refA)
		expectEqual(t, "crane push output", strings.TrimSpace(out), repoA+"@"+img.manifest.digest)
	})
	step(t, "pull", func(t *testing.T) {
		expectEqual(t, "crane digest", strings.TrimSpace(crane(t, "digest", refA)), img.manifest.digest)
		expectBytes(t, "crane manifest", []byte(crane(t, "manifest", refA)), img.manifest.data)
		expectBytes(t, "crane manifest by digest", []byte(crane(t, "manifest", repoA+"@"+img.manifest.digest)), img.manifest.data)
		expectBytes(t, "crane config", []byte(crane(t, "config", refA)), img.config.data)
		expectBytes(t, "crane blob (layer)", []byte(crane(t, "blob", repoA+"@"+img.layer.digest)), img.layer.data)

		dir := t.TempDir() + "/pulled"
		crane(t, "pull", "--format", "oci", refA, dir)
		expectEqual(t, "manifest digest in the pulled OCI layout", layoutManifestDigest(t, dir, ""), img.manifest.digest)
		checkLayoutBlob(t, dir, img.layer, "layer")
		checkLayoutBlob(t, dir, img.config, "config")
	})
	step(t, "tag and list", func(t *testing.T) {
		crane(t, "tag", refA, "v2")
		expectEqual(t, "crane digest of the new tag", strings.TrimSpace(crane(t, "digest", repoA+":v2")), img.manifest.digest)
		expectTags(t, "crane ls "+repoA, lines(crane(t, "ls", repoA)), "v1", "v2")
	})
	step(t, "multi-platform index", func(t *testing.T) {
		idx := newTestIndex(t)
		ref := s.ref(regA, "multi/app", ":latest")
		out := crane(t, "push", indexLayout(t, idx, "latest"), ref)
		expectEqual(t, "crane push (index) output", strings.TrimSpace(out), s.ref(regA, "multi/app", "@"+idx.index.digest))
		expectEqual(t, "crane digest (index)", strings.TrimSpace(crane(t, "digest", ref)), idx.index.digest)
		expectBytes(t, "crane manifest (index)", []byte(crane(t, "manifest", ref)), idx.index.data)
		arm := idx.images[1]
		expectEqual(t, "crane digest --platform linux/arm64", strings.TrimSpace(crane(t, "digest", "--platform", "linux/arm64", ref)), arm.manifest.digest)
		expectBytes(t, "crane blob (arm64 layer)", []byte(crane(t, "blob", s.ref(regA, "multi/app", "@"+arm.layer.digest))), arm.layer.data)
	})
	step(t, "copy between registries", func(t *testing.T) {
		crane(t, "copy", refA, repoB+":v1")
		expectEqual(t, "crane digest in registry B", strings.TrimSpace(crane(t, "digest", repoB+":v1")), img.manifest.digest)
		expectBytes(t, "crane manifest in registry B", []byte(crane(t, "manifest", repoB+":v1")), img.manifest.data)
		expectBytes(t, "crane blob in registry B", []byte(crane(t, "blob", repoB+"@"+img.layer.digest)), img.layer.data)
		expectTags(t, "crane ls "+repoB, lines(crane(t, "ls", repoB)), "v1")

		// A multi-platform index with all its children.
		crane(t, "copy", s.ref(regA, "multi/app", ":latest"), s.ref(regB, "multi/app", ":latest"))
		idxDigest := strings.TrimSpace(crane(t, "digest", s.ref(regA, "multi/app", ":latest")))
		expectEqual(t, "index digest in registry B", strings.TrimSpace(crane(t, "digest", s.ref(regB, "multi/app", ":latest"))), idxDigest)
		armDigest := strings.TrimSpace(crane(t, "digest", "--platform", "linux/arm64", s.ref(regA, "multi/app", ":latest")))
		crane(t, "manifest", s.ref(regB, "multi/app", "@"+armDigest))
	})
	step(t, "isolation", func(t *testing.T) {
		repoC := s.ref(regC, "team/app", "")
		craneFail(t, "registry C never received this tag", "digest", repoC+":v1")
		craneFail(t, "registry C never received this manifest", "manifest", repoC+"@"+img.manifest.digest)
		craneFail(t, "registry C never received this blob", "blob", repoC+"@"+img.layer.digest)
		// Registry A's path nested under registry C must not reach A's content.
		craneFail(t, "a repo path inside C that names A must not reach A", "manifest", s.ref(regC, regA+"/team/app", ":v1"))
		r := c.exec(t, nil, "ls", repoC, "--insecure")
		c.expectNoAuthRefusal(t, []string{"ls", repoC}, r)
		if r.err == nil && len(lines(r.stdout)) > 0 {
			t.Fatalf("crane ls in registry C lists tags of registry A's repo:\n%s", c.describe([]string{"ls", repoC}, r))
		}
		unknown := s.ref(uniqueName("nosuchreg"), "team/app", "")
		out := craneFail(t, "the registry does not exist", "digest", unknown+":v1")
		if !strings.Contains(out, "NAME_UNKNOWN") {
			t.Errorf("crane digest on an unknown registry: want a NAME_UNKNOWN error, got:\n%s", out)
		}
	})
	step(t, "delete", func(t *testing.T) {
		crane(t, "delete", repoA+":v2")
		expectTags(t, "crane ls after deleting tag v2", lines(crane(t, "ls", repoA)), "v1")
		expectEqual(t, "crane digest of v1 after deleting v2", strings.TrimSpace(crane(t, "digest", refA)), img.manifest.digest)

		crane(t, "delete", repoA+"@"+img.manifest.digest)
		craneFail(t, "the manifest was deleted", "manifest", repoA+"@"+img.manifest.digest)
		craneFail(t, "the manifest tagged v1 was deleted", "digest", refA)
		// The copy in registry B is untouched.
		expectEqual(t, "crane digest in registry B after deleting in A", strings.TrimSpace(crane(t, "digest", repoB+":v1")), img.manifest.digest)
	})
}
