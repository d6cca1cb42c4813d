package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOras drives moat with oras, plain HTTP via --plain-http, logged in as
// admin with `oras login` (its credentials in the private $DOCKER_CONFIG).
func TestOras(t *testing.T) {
	c := newClient(t, "oras")
	s := c.srv
	regA := s.createRegistry(t, "orasa")
	regB := s.createRegistry(t, "orasb")
	regC := s.createRegistry(t, "orasc") // stays empty: isolation checks

	oras := func(t *testing.T, args ...string) string {
		t.Helper()
		return c.run(t, args...)
	}
	// pushedDigest parses the digest from oras push/attach --format json output.
	pushedDigest := func(t *testing.T, out string) string {
		t.Helper()
		var v struct {
			Digest string `json:"digest"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || !strings.HasPrefix(v.Digest, "sha256:") {
			t.Fatalf("cannot read the digest from oras output (%v):\n%s", err, out)
		}
		return v.Digest
	}

	img := newTestImage(t, "amd64")
	layout := imageLayout(t, img, "v1")
	repoA := s.ref(regA, "team/app", "")
	refA := repoA + ":v1"
	repoB := s.ref(regB, "team/app", "")
	const sigType = "application/vnd.moat.e2e.signature"
	var sigDigest string

	step(t, "login", func(t *testing.T) {
		c.failUnauthorized(t, "resolve", "--plain-http", refA)
		c.failUnauthorized(t, "cp", "--from-oci-layout", layout+":v1", "--to-plain-http", refA)
		r := c.exec(t, []byte(s.password+"-wrong"), "login", "--plain-http", s.addr, "-u", "admin", "--password-stdin")
		if r.err == nil {
			t.Fatalf("oras login with a wrong password succeeded:\n%s", c.describe([]string{"login"}, r))
		}
		c.runStdin(t, []byte(s.password), "login", "--plain-http", s.addr, "-u", "admin", "--password-stdin")
		c.expectCredentialFile(t, ".docker/config.json")
	})
	step(t, "push and pull files", func(t *testing.T) {
		content := []byte("release notes " + randomHex(12) + "\n")
		if err := os.WriteFile(filepath.Join(c.dir, "notes.txt"), content, 0o644); err != nil {
			t.Fatal(err)
		}
		ref := s.ref(regA, "files/notes", ":v1")
		digest := pushedDigest(t, oras(t, "push", "--plain-http", "--format", "json",
			"--artifact-type", "application/vnd.moat.e2e.notes", ref, "notes.txt:text/plain"))
		expectEqual(t, "oras resolve", strings.TrimSpace(oras(t, "resolve", "--plain-http", ref)), digest)
		expectEqual(t, "digest of oras manifest fetch", digestOf([]byte(oras(t, "manifest", "fetch", "--plain-http", ref))), digest)

		out := filepath.Join(t.TempDir(), "pulled")
		oras(t, "pull", "--plain-http", "-o", out, ref)
		got, err := os.ReadFile(filepath.Join(out, "notes.txt"))
		if err != nil {
			t.Fatalf("oras pull did not produce notes.txt: %v", err)
		}
		expectBytes(t, "pulled notes.txt", got, content)
	})
	step(t, "copy image from OCI layout", func(t *testing.T) {
		oras(t, "cp", "--from-oci-layout", layout+":v1", "--to-plain-http", refA)
		expectEqual(t, "oras resolve", strings.TrimSpace(oras(t, "resolve", "--plain-http", refA)), img.manifest.digest)
		expectBytes(t, "oras manifest fetch", []byte(oras(t, "manifest", "fetch", "--plain-http", refA)), img.manifest.data)
		expectBytes(t, "oras blob fetch (layer)", []byte(oras(t, "blob", "fetch", "--plain-http", "--output", "-", repoA+"@"+img.layer.digest)), img.layer.data)
		expectBytes(t, "oras blob fetch (config)", []byte(oras(t, "blob", "fetch", "--plain-http", "--output", "-", repoA+"@"+img.config.digest)), img.config.data)
	})
	step(t, "tag and list", func(t *testing.T) {
		oras(t, "tag", "--plain-http", refA, "v2")
		expectEqual(t, "oras resolve v2", strings.TrimSpace(oras(t, "resolve", "--plain-http", repoA+":v2")), img.manifest.digest)
		expectTags(t, "oras repo tags "+repoA, lines(oras(t, "repo", "tags", "--plain-http", repoA)), "v1", "v2")
	})
	step(t, "attach and discover referrers", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(c.dir, "sig.txt"), []byte("signed "+randomHex(8)), 0o644); err != nil {
			t.Fatal(err)
		}
		sigDigest = pushedDigest(t, oras(t, "attach", "--plain-http", "--format", "json",
			"--artifact-type", sigType, refA, "sig.txt:text/plain"))
		out := oras(t, "discover", "--plain-http", "--format", "json", refA)
		if !strings.Contains(out, sigDigest) || !strings.Contains(out, sigType) {
			t.Fatalf("oras discover does not list the attached %s artifact %s:\n%s", sigType, sigDigest, out)
		}
	})
	step(t, "copy between registries", func(t *testing.T) {
		oras(t, "cp", "-r", "--from-plain-http", "--to-plain-http", refA, repoB+":v1")
		expectEqual(t, "oras resolve in registry B", strings.TrimSpace(oras(t, "resolve", "--plain-http", repoB+":v1")), img.manifest.digest)
		expectBytes(t, "oras blob fetch in registry B", []byte(oras(t, "blob", "fetch", "--plain-http", "--output", "-", repoB+"@"+img.layer.digest)), img.layer.data)
		expectTags(t, "oras repo tags "+repoB, lines(oras(t, "repo", "tags", "--plain-http", repoB)), "v1")
		out := oras(t, "discover", "--plain-http", "--format", "json", repoB+":v1")
		if !strings.Contains(out, sigDigest) {
			t.Fatalf("oras cp -r did not bring the referrer %s to registry B; oras discover:\n%s", sigDigest, out)
		}
	})
	step(t, "isolation", func(t *testing.T) {
		repoC := s.ref(regC, "team/app", "")
		c.fail(t, "registry C never received this tag", "resolve", "--plain-http", repoC+":v1")
		c.fail(t, "registry C never received this manifest", "manifest", "fetch", "--plain-http", repoC+"@"+img.manifest.digest)
		c.fail(t, "registry C never received this blob", "blob", "fetch", "--plain-http", "--output", "-", repoC+"@"+img.layer.digest)
		c.fail(t, "a repo path inside C that names A must not reach A", "manifest", "fetch", "--plain-http", s.ref(regC, regA+"/team/app", ":v1"))
		r := c.exec(t, nil, "repo", "tags", "--plain-http", repoC)
		c.expectNoAuthRefusal(t, []string{"repo", "tags", repoC}, r)
		if r.err == nil && len(lines(r.stdout)) > 0 {
			t.Fatalf("oras repo tags in registry C lists tags:\n%s", c.describe([]string{"repo", "tags", "--plain-http", repoC}, r))
		}
		r = c.exec(t, nil, "discover", "--plain-http", "--format", "json", repoC+"@"+img.manifest.digest)
		c.expectNoAuthRefusal(t, []string{"discover", repoC + "@" + img.manifest.digest}, r)
		if r.err == nil && strings.Contains(r.stdout, sigDigest) {
			t.Fatalf("oras discover in registry C shows registry A's referrer:\n%s", c.describe([]string{"discover", repoC + "@" + img.manifest.digest}, r))
		}
	})
	step(t, "delete", func(t *testing.T) {
		oras(t, "manifest", "delete", "--plain-http", "--force", repoA+"@"+sigDigest)
		c.fail(t, "the signature manifest was deleted", "manifest", "fetch", "--plain-http", repoA+"@"+sigDigest)
		out := oras(t, "discover", "--plain-http", "--format", "json", refA)
		if strings.Contains(out, sigDigest) {
			t.Fatalf("oras discover still lists the deleted referrer %s:\n%s", sigDigest, out)
		}

		oras(t, "manifest", "delete", "--plain-http", "--force", repoA+"@"+img.manifest.digest)
		c.fail(t, "the manifest was deleted", "manifest", "fetch", "--plain-http", repoA+"@"+img.manifest.digest)
		c.fail(t, "the manifest tagged v1 was deleted", "resolve", "--plain-http", refA)
		expectEqual(t, "oras resolve in registry B after deleting in A", strings.TrimSpace(oras(t, "resolve", "--plain-http", repoB+":v1")), img.manifest.digest)
	})
}
