package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSkopeo drives moat with skopeo; plain HTTP via --tls-verify=false
// (--src-tls-verify/--dest-tls-verify for copies), which makes skopeo fall
// back from HTTPS to HTTP. It logs in as admin with `skopeo login`, whose
// credentials the later commands (copies too, for source and destination)
// take from its private HOME.
func TestSkopeo(t *testing.T) {
	c := newClient(t, "skopeo")
	confineContainersTool(t, c) // as root, keep skopeo off /var/lib/containers
	s := c.srv
	regA := s.createRegistry(t, "skopeoa")
	regB := s.createRegistry(t, "skopeob")
	regC := s.createRegistry(t, "skopeoc") // stays empty: isolation checks

	// --insecure-policy: no /etc/containers/policy.json needed.
	skopeo := func(t *testing.T, args ...string) string {
		t.Helper()
		return c.run(t, append([]string{"--insecure-policy"}, args...)...)
	}
	skopeoFail := func(t *testing.T, why string, args ...string) string {
		t.Helper()
		return c.fail(t, why, append([]string{"--insecure-policy"}, args...)...)
	}
	inspectRaw := func(t *testing.T, ref string) []byte {
		t.Helper()
		return []byte(skopeo(t, "inspect", "--tls-verify=false", "--raw", "docker://"+ref))
	}

	img := newTestImage(t, "amd64")
	layout := imageLayout(t, img, "v1")
	repoA := s.ref(regA, "team/app", "")
	refA := repoA + ":v1"
	repoB := s.ref(regB, "team/app", "")

	step(t, "login", func(t *testing.T) {
		c.failUnauthorized(t, "--insecure-policy", "inspect", "--tls-verify=false", "--raw", "docker://"+refA)
		c.failUnauthorized(t, "--insecure-policy", "copy", "--dest-tls-verify=false", "oci:"+layout+":v1", "docker://"+refA)
		// --creds works for one command, without a login.
		out := c.exitFail(t, "the image was not pushed yet", "--insecure-policy", "inspect", "--tls-verify=false", "--creds", "admin:"+s.password, "--raw", "docker://"+refA)
		if !strings.Contains(strings.ToLower(out), "manifest unknown") {
			t.Fatalf("skopeo inspect --creds admin:... of a missing tag: want manifest unknown, got:\n%s", printable(out))
		}
		r := c.exec(t, []byte(s.password+"-wrong"), "login", "--tls-verify=false", "-u", "admin", "--password-stdin", s.addr)
		if r.err == nil {
			t.Fatalf("skopeo login with a wrong password succeeded:\n%s", c.describe([]string{"login"}, r))
		}
		c.runStdin(t, []byte(s.password), "login", "--tls-verify=false", "-u", "admin", "--password-stdin", s.addr)
		c.expectCredentialFile(t, skopeoAuthFile(t, c))
	})
	step(t, "push from OCI layout", func(t *testing.T) {
		skopeo(t, "copy", "--preserve-digests", "--dest-tls-verify=false", "oci:"+layout+":v1", "docker://"+refA)
		expectBytes(t, "skopeo inspect --raw", inspectRaw(t, refA), img.manifest.data)
	})
	step(t, "pull", func(t *testing.T) {
		var info struct {
			Digest       string
			Architecture string
			Os           string
			RepoTags     []string
		}
		out := skopeo(t, "inspect", "--tls-verify=false", "docker://"+refA)
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatalf("parsing skopeo inspect output: %v\n%s", err, out)
		}
		expectEqual(t, "skopeo inspect Digest", info.Digest, img.manifest.digest)
		expectEqual(t, "skopeo inspect Architecture", info.Architecture, "amd64")
		expectTags(t, "skopeo inspect RepoTags", info.RepoTags, "v1")
		expectBytes(t, "skopeo inspect --config --raw", []byte(skopeo(t, "inspect", "--tls-verify=false", "--config", "--raw", "docker://"+refA)), img.config.data)

		dir := filepath.Join(t.TempDir(), "pulled")
		skopeo(t, "copy", "--preserve-digests", "--src-tls-verify=false", "docker://"+refA, "oci:"+dir+":v1")
		expectEqual(t, "manifest digest in the pulled OCI layout", layoutManifestDigest(t, dir, "v1"), img.manifest.digest)
		checkLayoutBlob(t, dir, img.layer, "layer")
		checkLayoutBlob(t, dir, img.config, "config")
	})
	listTags := func(t *testing.T, repo string) []string {
		t.Helper()
		out := skopeo(t, "list-tags", "--tls-verify=false", "docker://"+repo)
		var v struct {
			Repository string
			Tags       []string
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("parsing skopeo list-tags output: %v\n%s", err, out)
		}
		return v.Tags
	}
	step(t, "tag and list", func(t *testing.T) {
		skopeo(t, "copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false", "docker://"+refA, "docker://"+repoA+":v2")
		expectBytes(t, "skopeo inspect --raw v2", inspectRaw(t, repoA+":v2"), img.manifest.data)
		expectTags(t, "skopeo list-tags "+repoA, listTags(t, repoA), "v1", "v2")
	})
	step(t, "multi-platform index", func(t *testing.T) {
		idx := newTestIndex(t)
		ref := s.ref(regA, "multi/app", ":latest")
		skopeo(t, "copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "oci:"+indexLayout(t, idx, "latest")+":latest", "docker://"+ref)
		expectBytes(t, "skopeo inspect --raw (index)", inspectRaw(t, ref), idx.index.data)
		for _, im := range idx.images {
			expectBytes(t, "skopeo inspect --raw ("+im.arch+" manifest by digest)",
				inspectRaw(t, s.ref(regA, "multi/app", "@"+im.manifest.digest)), im.manifest.data)
		}
	})
	step(t, "copy between registries", func(t *testing.T) {
		skopeo(t, "copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false", "docker://"+refA, "docker://"+repoB+":v1")
		expectBytes(t, "skopeo inspect --raw in registry B", inspectRaw(t, repoB+":v1"), img.manifest.data)
		expectTags(t, "skopeo list-tags "+repoB, listTags(t, repoB), "v1")

		skopeo(t, "copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false",
			"docker://"+s.ref(regA, "multi/app", ":latest"), "docker://"+s.ref(regB, "multi/app", ":latest"))
		expectBytes(t, "skopeo inspect --raw (index) in registry B",
			inspectRaw(t, s.ref(regB, "multi/app", ":latest")), inspectRaw(t, s.ref(regA, "multi/app", ":latest")))
	})
	step(t, "isolation", func(t *testing.T) {
		repoC := s.ref(regC, "team/app", "")
		skopeoFail(t, "registry C never received this tag", "inspect", "--tls-verify=false", "--raw", "docker://"+repoC+":v1")
		skopeoFail(t, "registry C never received this manifest", "inspect", "--tls-verify=false", "--raw", "docker://"+repoC+"@"+img.manifest.digest)
		skopeoFail(t, "a repo path inside C that names A must not reach A", "inspect", "--tls-verify=false", "--raw", "docker://"+s.ref(regC, regA+"/team/app", ":v1"))
		r := c.exec(t, nil, "--insecure-policy", "list-tags", "--tls-verify=false", "docker://"+repoC)
		c.expectNoAuthRefusal(t, []string{"list-tags", repoC}, r)
		if r.err == nil && strings.Contains(r.stdout, `"v1"`) {
			t.Fatalf("skopeo list-tags in registry C lists registry A's tags:\n%s", c.describe([]string{"list-tags", repoC}, r))
		}
	})
	step(t, "delete", func(t *testing.T) {
		skopeo(t, "delete", "--tls-verify=false", "docker://"+repoA+"@"+img.manifest.digest)
		skopeoFail(t, "the manifest was deleted", "inspect", "--tls-verify=false", "--raw", "docker://"+repoA+"@"+img.manifest.digest)
		skopeoFail(t, "the manifest tagged v1 was deleted", "inspect", "--tls-verify=false", "--raw", "docker://"+refA)
		expectBytes(t, "skopeo inspect --raw in registry B after deleting in A", inspectRaw(t, repoB+":v1"), img.manifest.data)
	})
}

// skopeoAuthFile finds where skopeo login stored the credentials, relative to
// the client's private HOME (containers/image picks $XDG_RUNTIME_DIR's
// containers/auth.json or $DOCKER_CONFIG/config.json, depending on version).
func skopeoAuthFile(t *testing.T, c *client) string {
	t.Helper()
	for _, rel := range []string{"run/containers/auth.json", ".docker/config.json", ".config/containers/auth.json"} {
		if _, err := os.Stat(filepath.Join(c.home, rel)); err == nil {
			return rel
		}
	}
	t.Fatalf("skopeo login stored no credentials in its private HOME %s", c.home)
	return ""
}
