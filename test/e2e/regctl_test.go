package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRegctl drives moat with regctl (regclient); plain HTTP is configured with
// `regctl registry set --tls disabled` and the admin credentials with
// `regctl registry login`, both in the client's private HOME.
func TestRegctl(t *testing.T) {
	c := newClient(t, "regctl")
	s := c.srv
	regA := s.createRegistry(t, "regctla")
	regB := s.createRegistry(t, "regctlb")
	regC := s.createRegistry(t, "regctlc") // stays empty: isolation checks

	regctl := func(t *testing.T, args ...string) string {
		t.Helper()
		return c.run(t, args...)
	}
	regctl(t, "registry", "set", "--tls", "disabled", s.addr)

	img := newTestImage(t, "amd64")
	layout := imageLayout(t, img, "v1")
	repoA := s.ref(regA, "team/app", "")
	refA := repoA + ":v1"
	repoB := s.ref(regB, "team/app", "")
	const sbomType = "application/vnd.moat.e2e.sbom"

	step(t, "login", func(t *testing.T) {
		c.failUnauthorized(t, "manifest", "head", refA)
		c.failUnauthorized(t, "image", "copy", "ocidir://"+layout+":v1", refA)
		r := c.exec(t, []byte(s.password+"-wrong"), "registry", "login", s.addr, "-u", "admin", "--pass-stdin")
		if r.err == nil {
			t.Fatalf("regctl registry login with a wrong password succeeded:\n%s", c.describe([]string{"registry", "login"}, r))
		}
		c.runStdin(t, []byte(s.password), "registry", "login", s.addr, "-u", "admin", "--pass-stdin")
		c.expectCredentialFile(t, ".regctl/config.json")
	})
	step(t, "push from OCI layout", func(t *testing.T) {
		regctl(t, "image", "copy", "ocidir://"+layout+":v1", refA)
		expectEqual(t, "regctl image digest", strings.TrimSpace(regctl(t, "image", "digest", refA)), img.manifest.digest)
	})
	step(t, "pull", func(t *testing.T) {
		expectBytes(t, "regctl manifest get --format raw-body", []byte(regctl(t, "manifest", "get", "--format", "raw-body", refA)), img.manifest.data)
		expectBytes(t, "regctl blob get (layer)", []byte(regctl(t, "blob", "get", repoA, img.layer.digest)), img.layer.data)
		expectBytes(t, "regctl blob get (config)", []byte(regctl(t, "blob", "get", repoA, img.config.digest)), img.config.data)

		dir := filepath.Join(t.TempDir(), "pulled")
		regctl(t, "image", "copy", refA, "ocidir://"+dir+":v1")
		expectEqual(t, "manifest digest in the pulled OCI layout", layoutManifestDigest(t, dir, "v1"), img.manifest.digest)
		checkLayoutBlob(t, dir, img.layer, "layer")
		checkLayoutBlob(t, dir, img.config, "config")
	})
	step(t, "tag and list", func(t *testing.T) {
		regctl(t, "image", "copy", refA, repoA+":v2")
		expectTags(t, "regctl tag ls "+repoA, lines(regctl(t, "tag", "ls", repoA)), "v1", "v2")
	})
	step(t, "multi-platform index", func(t *testing.T) {
		idx := newTestIndex(t)
		ref := s.ref(regA, "multi/app", ":latest")
		regctl(t, "image", "copy", "ocidir://"+indexLayout(t, idx, "latest")+":latest", ref)
		expectEqual(t, "regctl image digest (index)", strings.TrimSpace(regctl(t, "image", "digest", ref)), idx.index.digest)
		expectBytes(t, "regctl manifest get (index)", []byte(regctl(t, "manifest", "get", "--format", "raw-body", ref)), idx.index.data)
		arm := idx.images[1]
		expectEqual(t, "regctl image digest --platform linux/arm64",
			strings.TrimSpace(regctl(t, "image", "digest", "--platform", "linux/arm64", ref)), arm.manifest.digest)
	})
	step(t, "artifact with subject (referrers)", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(c.dir, "sbom.json"), []byte(`{"sbom":"`+randomHex(8)+`"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		regctl(t, "artifact", "put", "--subject", refA, "--artifact-type", sbomType,
			"--file", "sbom.json", "--file-media-type", "application/json")
		out := regctl(t, "artifact", "list", "--format", "body", refA)
		if !strings.Contains(out, sbomType) {
			t.Fatalf("regctl artifact list does not show the %s referrer:\n%s", sbomType, out)
		}
	})
	step(t, "copy between registries", func(t *testing.T) {
		regctl(t, "image", "copy", "--referrers", refA, repoB+":v1")
		expectEqual(t, "regctl image digest in registry B", strings.TrimSpace(regctl(t, "image", "digest", repoB+":v1")), img.manifest.digest)
		expectBytes(t, "regctl blob get in registry B", []byte(regctl(t, "blob", "get", repoB, img.layer.digest)), img.layer.data)
		expectTags(t, "regctl tag ls "+repoB, lines(regctl(t, "tag", "ls", repoB)), "v1")
		out := regctl(t, "artifact", "list", "--format", "body", repoB+":v1")
		if !strings.Contains(out, sbomType) {
			t.Fatalf("regctl image copy --referrers did not bring the %s referrer to registry B:\n%s", sbomType, out)
		}
	})
	step(t, "isolation", func(t *testing.T) {
		repoC := s.ref(regC, "team/app", "")
		c.fail(t, "registry C never received this tag", "manifest", "head", repoC+":v1")
		c.fail(t, "registry C never received this manifest", "manifest", "get", repoC+"@"+img.manifest.digest)
		c.fail(t, "registry C never received this blob", "blob", "get", repoC, img.layer.digest)
		c.fail(t, "a repo path inside C that names A must not reach A", "manifest", "get", s.ref(regC, regA+"/team/app", ":v1"))
		r := c.exec(t, nil, "tag", "ls", repoC)
		c.expectNoAuthRefusal(t, []string{"tag", "ls", repoC}, r)
		if r.err == nil && len(lines(r.stdout)) > 0 {
			t.Fatalf("regctl tag ls in registry C lists tags:\n%s", c.describe([]string{"tag", "ls", repoC}, r))
		}
	})
	step(t, "delete", func(t *testing.T) {
		regctl(t, "tag", "rm", repoA+":v2")
		expectTags(t, "regctl tag ls after deleting v2", lines(regctl(t, "tag", "ls", repoA)), "v1")
		expectEqual(t, "regctl image digest of v1 after deleting v2", strings.TrimSpace(regctl(t, "image", "digest", refA)), img.manifest.digest)

		regctl(t, "manifest", "rm", repoA+"@"+img.manifest.digest)
		c.fail(t, "the manifest was deleted", "manifest", "head", repoA+"@"+img.manifest.digest)
		c.fail(t, "the manifest tagged v1 was deleted", "manifest", "head", refA)
		expectEqual(t, "regctl image digest in registry B after deleting in A", strings.TrimSpace(regctl(t, "image", "digest", repoB+":v1")), img.manifest.digest)
	})
}
