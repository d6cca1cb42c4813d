package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The TestLogin* tests check that every real client works with the
// credential `moat acr login` writes, and with nothing else: a freshly created
// user (not the administrator) signs in with `moat login` in the client's own
// private HOME, runs `moat acr login --name <registry>`, which writes
// auths[<host>] = {"auth": base64("00000000-0000-0000-0000-000000000000:"),
// "identitytoken": <registry refresh token>} to $DOCKER_CONFIG/config.json, and
// the client then pushes and pulls with no login of its own. A user with
// AcrPush pushes and pulls; a user with only AcrPull pulls, and its push is
// refused with 403 DENIED and leaves nothing in the registry.

// zeroUserName is the user name that says "the password is a refresh token".
const zeroUserName = "00000000-0000-0000-0000-000000000000"

// acrUser is a user created for one test, with a role on one registry.
type acrUser struct {
	name, password, role string
}

// newACRUser creates a user (as admin) and assigns it role on registry.
func (s *server) newACRUser(t *testing.T, prefix, role, registry string) acrUser {
	t.Helper()
	u := acrUser{name: uniqueName(prefix), password: "pw-" + randomHex(24), role: role}
	if out, err := s.moat(t, nil, "ad", "user", "create", "--user-principal-name", u.name, "--password", u.password, "-o", "none"); err != nil {
		t.Fatalf("moat ad user create %s: %v\n%s", u.name, err, out)
	}
	out, err := s.moat(t, nil, "acr", "show", "--name", registry, "--query", "id", "-o", "tsv")
	id := strings.TrimSpace(out)
	if err != nil || !strings.HasPrefix(id, "/subscriptions/") {
		t.Fatalf("moat acr show --name %s --query id: %v\n%s", registry, err, out)
	}
	if out, err := s.moat(t, nil, "role", "assignment", "create", "--assignee", u.name, "--role", role, "--scope", id, "-o", "none"); err != nil {
		t.Fatalf("moat role assignment create --assignee %s --role %s --scope %s: %v\n%s", u.name, role, id, err, out)
	}
	return u
}

// moatCLI runs the moat CLI with the client's environment: its private HOME,
// so the moat session (~/.moat) and the Docker config it writes
// ($DOCKER_CONFIG/config.json) are the client's.
func (c *client) moatCLI(t *testing.T, stdin string, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.srv.bin, args...)
	cmd.Env = c.env
	cmd.Dir = c.dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return runResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// mustMoatCLI is moatCLI that fails the test unless the command succeeds; returns stdout.
func (c *client) mustMoatCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := c.moatCLI(t, stdin, args...)
	if r.err != nil {
		t.Fatalf("$ moat %s (in %s's HOME)\nresult: %v\n--- stdout ---\n%s\n--- stderr ---\n%s",
			strings.Join(args, " "), c.name, errOrOK(r.err), printable(r.stdout), printable(r.stderr))
	}
	return r.stdout
}

// signIn signs u in with `moat login` in the client's HOME.
func (c *client) signIn(t *testing.T, u acrUser) {
	t.Helper()
	c.mustMoatCLI(t, u.password+"\n", "login", "--server", c.srv.url, "-u", u.name, "-p", "-", "-o", "none")
	var acct struct {
		User struct {
			Name string `json:"name"`
		} `json:"user"`
	}
	out := c.mustMoatCLI(t, "", "account", "show")
	if err := json.Unmarshal([]byte(out), &acct); err != nil || acct.User.Name != u.name {
		t.Fatalf("moat account show after signing in as %s: %v\n%s", u.name, err, out)
	}
}

// acrLogin signs u in and runs `moat acr login --name registry` in the
// client's HOME, then checks the Docker config entry it wrote.
func (c *client) acrLogin(t *testing.T, u acrUser, registry string) {
	t.Helper()
	c.signIn(t, u)
	out := c.mustMoatCLI(t, "", "acr", "login", "--name", registry)
	if !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("moat acr login --name %s: no \"Login Succeeded\":\n%s", registry, out)
	}
	c.expectACRLoginEntry(t, u)
}

// dockerAuths reads auths from the client's $DOCKER_CONFIG/config.json.
func (c *client) dockerAuths(t *testing.T) map[string]map[string]any {
	t.Helper()
	p := filepath.Join(c.home, ".docker", "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("no Docker config in the client's private HOME: %v", err)
	}
	var cfg struct {
		Auths map[string]map[string]any `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s is not valid JSON: %v\n%s", p, err, b)
	}
	return cfg.Auths
}

// expectACRLoginEntry checks what `moat acr login` wrote: for the server's
// host (the login server of a path-style registry is <host>/<name>; Docker
// config keys are hosts), the all-zero user name with an empty password and
// the registry refresh token of u as identitytoken, nothing else.
func (c *client) expectACRLoginEntry(t *testing.T, u acrUser) {
	t.Helper()
	auths := c.dockerAuths(t)
	e, ok := auths[c.srv.addr]
	if !ok {
		t.Fatalf("moat acr login wrote no auths[%q] to the Docker config (auths: %v)", c.srv.addr, keysOf(auths))
	}
	if got, want := e["auth"], base64.StdEncoding.EncodeToString([]byte(zeroUserName+":")); got != want {
		t.Fatalf("auths[%q].auth = %v, want base64(%q) = %s", c.srv.addr, got, zeroUserName+":", want)
	}
	tok, _ := e["identitytoken"].(string)
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("auths[%q].identitytoken is not a JWT: %.60q", c.srv.addr, tok)
	}
	for k := range e {
		if k != "auth" && k != "identitytoken" {
			t.Errorf("auths[%q] has an unexpected field %q (want only auth and identitytoken)", c.srv.addr, k)
		}
	}
	claims := jwtPart(t, tok, 1)
	if claims["typ"] != "refresh" {
		t.Errorf("the identitytoken is not a registry refresh token: typ=%v", claims["typ"])
	}
	aud := fmt.Sprint(claims["aud"])
	if !strings.Contains(aud, c.srv.addr) {
		t.Errorf("the identitytoken's audience %s does not name the login server host %s", aud, c.srv.addr)
	}
	if claims["sub"] == nil || claims["sub"] == "" {
		t.Errorf("the identitytoken names no subject: %v", claims)
	}
}

// expectOnlyACRLoginCredential checks, at the end of a scenario, that the
// client's HOME holds no credential besides the Docker config entry moat acr
// login wrote: the client never logged in by itself.
func (c *client) expectOnlyACRLoginCredential(t *testing.T, u acrUser) {
	t.Helper()
	for _, rel := range []string{"run/containers/auth.json", ".config/containers/auth.json", ".dockercfg"} {
		if _, err := os.Stat(filepath.Join(c.home, rel)); err == nil {
			t.Errorf("%s wrote credentials of its own to %s", c.name, rel)
		}
	}
	if b, err := os.ReadFile(filepath.Join(c.home, ".regctl", "config.json")); err == nil {
		low := strings.ToLower(string(b))
		for _, k := range []string{`"pass"`, `"user"`, `"token"`, "identitytoken"} {
			if strings.Contains(low, k) {
				t.Errorf("regctl's config holds credentials (%s):\n%s", k, b)
			}
		}
	}
	if auths := c.dockerAuths(t); len(auths) != 1 {
		t.Errorf("the Docker config has %d auths entries, want only moat acr login's: %v", len(auths), keysOf(auths))
	}
	c.expectACRLoginEntry(t, u)
}

func keysOf[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// status401 and status403 find the status codes as words (not inside digests).
var (
	status401 = regexp.MustCompile(`\b401\b`)
	status403 = regexp.MustCompile(`\b403\b`)
)

// expectDenied checks that a client's output tells of a 403 DENIED refusal
// (each client words it its own way: "DENIED", "denied", "[http 403]").
func expectDenied(t *testing.T, c *client, what, out string) {
	t.Helper()
	low := strings.ToLower(out)
	if !strings.Contains(low, "denied") && !status403.MatchString(low) {
		t.Fatalf("%s: %s failed, but its output does not show a 403 / denied refusal:\n%s", what, c.name, printable(out))
	}
	if status401.MatchString(low) || strings.Contains(low, "authentication required") {
		t.Fatalf("%s: %s was refused as unauthenticated (401), want 403 DENIED for a signed-in user without the right:\n%s", what, c.name, printable(out))
	}
}

// expectNotInRegistry checks with an administrator token that <name>:tag
// does not exist and that none of the blobs was stored in <name>.
func expectNotInRegistry(t *testing.T, s *server, name, tag string, blobs ...blob) {
	t.Helper()
	auth := s.auth(t, name)
	r := doHTTP(t, "HEAD", s.url+"/v2/"+name+"/manifests/"+tag, nil, auth)
	if r.status != http.StatusNotFound {
		t.Fatalf("after a refused push, %s:%s must not exist (want 404): %s", name, tag, r.desc)
	}
	r = doHTTP(t, "GET", s.url+"/v2/"+name+"/tags/list", nil, auth)
	if r.status == http.StatusOK {
		var v struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatalf("tags list: %v: %s", err, r.desc)
		}
		if contains(v.Tags, tag) {
			t.Fatalf("after a refused push, the tag list of %s has %q: %s", name, tag, r.desc)
		}
	} else if r.status != http.StatusNotFound {
		t.Fatalf("tags list: want 200 or 404: %s", r.desc)
	}
	for _, b := range blobs {
		r := doHTTP(t, "HEAD", s.url+"/v2/"+name+"/blobs/"+b.digest, nil, auth)
		if r.status != http.StatusNotFound {
			t.Fatalf("after a refused push, blob %s must not be in %s (want 404): %s", b.digest, name, r.desc)
		}
	}
}

// expectInRegistry checks with an administrator token that <name>:tag is the
// manifest with the given digest.
func expectInRegistry(t *testing.T, s *server, name, tag, digest string) {
	t.Helper()
	r := doHTTP(t, "HEAD", s.url+"/v2/"+name+"/manifests/"+tag, nil,
		with(s.auth(t, name), "Accept", mtManifest+", "+mtIndex+", application/vnd.docker.distribution.manifest.v2+json"))
	expectStatus(t, r, http.StatusOK)
	if got := r.header.Get("Docker-Content-Digest"); got != digest {
		t.Fatalf("%s:%s has digest %s, want %s", name, tag, got, digest)
	}
}

// loginClient drives one client in the login scenario.
type loginClient struct {
	// name of the client binary.
	name string
	// setup prepares the client once its HOME exists (plain HTTP settings,
	// never credentials).
	setup func(t *testing.T, c *client)
	// push pushes the OCI layout (tagged "v1") to ref; pushArgs is the
	// command, which must succeed for push and fail for a puller.
	pushArgs func(c *client, layout, ref string) []string
	// pull reads ref (which is img) in every way the client has, and checks it.
	pull func(t *testing.T, c *client, ref string, img *testImage)
}

// testLogin is the scenario of one client: AcrPush and AcrPull users, each
// in its own HOME, logged in only through moat acr login.
func testLogin(t *testing.T, lc loginClient) {
	pusher := newClient(t, lc.name)
	s := pusher.srv
	reg := s.createRegistry(t, "login"+lc.name)
	const repo = "login/app"
	name := reg + "/" + repo
	img := newTestImage(t, "amd64")
	ref := s.ref(reg, repo, ":v1")
	if lc.setup != nil {
		lc.setup(t, pusher)
	}

	var pushUser acrUser
	step(t, "AcrPush user: moat acr login", func(t *testing.T) {
		pusher.failUnauthorized(t, lc.pushArgs(pusher, imageLayout(t, img, "v1"), ref)...)
		pushUser = s.newACRUser(t, "pusher", "AcrPush", reg)
		pusher.acrLogin(t, pushUser, reg)
	})
	step(t, "AcrPush user: push", func(t *testing.T) {
		pusher.run(t, lc.pushArgs(pusher, imageLayout(t, img, "v1"), ref)...)
		expectInRegistry(t, s, name, "v1", img.manifest.digest)
	})
	step(t, "AcrPush user: pull", func(t *testing.T) {
		lc.pull(t, pusher, ref, img)
		pusher.expectOnlyACRLoginCredential(t, pushUser)
	})

	puller := newClient(t, lc.name)
	if lc.setup != nil {
		lc.setup(t, puller)
	}
	var pullUser acrUser
	step(t, "AcrPull user: moat acr login", func(t *testing.T) {
		pullUser = s.newACRUser(t, "puller", "AcrPull", reg)
		puller.acrLogin(t, pullUser, reg)
	})
	step(t, "AcrPull user: pull", func(t *testing.T) {
		lc.pull(t, puller, ref, img)
	})
	step(t, "AcrPull user: push is denied", func(t *testing.T) {
		other := newTestImage(t, "amd64")
		out := puller.exitFail(t, "an AcrPull user may not push",
			lc.pushArgs(puller, imageLayout(t, other, "v1"), s.ref(reg, repo, ":denied"))...)
		expectDenied(t, puller, "push by an AcrPull user", out)
		expectNotInRegistry(t, s, name, "denied", other.layer, other.config)
		// What the pusher pushed is untouched.
		expectInRegistry(t, s, name, "v1", img.manifest.digest)
		puller.expectOnlyACRLoginCredential(t, pullUser)
	})
}

// TestLoginCrane: crane uses the identitytoken of the Docker config.
func TestLoginCrane(t *testing.T) {
	testLogin(t, loginClient{
		name: "crane",
		pushArgs: func(_ *client, layout, ref string) []string {
			return []string{"push", "--insecure", layout, ref}
		},
		pull: func(t *testing.T, c *client, ref string, img *testImage) {
			repo := ref[:strings.LastIndex(ref, ":")]
			expectEqual(t, "crane digest", strings.TrimSpace(c.run(t, "digest", "--insecure", ref)), img.manifest.digest)
			expectBytes(t, "crane manifest", []byte(c.run(t, "manifest", "--insecure", ref)), img.manifest.data)
			expectBytes(t, "crane config", []byte(c.run(t, "config", "--insecure", ref)), img.config.data)
			expectBytes(t, "crane blob (layer)", []byte(c.run(t, "blob", "--insecure", repo+"@"+img.layer.digest)), img.layer.data)
			dir := filepath.Join(t.TempDir(), "pulled")
			c.run(t, "pull", "--insecure", "--format", "oci", ref, dir)
			expectEqual(t, "manifest digest in the pulled OCI layout", layoutManifestDigest(t, dir, ""), img.manifest.digest)
			checkLayoutBlob(t, dir, img.layer, "layer")
			checkLayoutBlob(t, dir, img.config, "config")
		},
	})
}

// TestLoginOras: oras (oras-go) uses the identitytoken of the Docker config
// as a refresh token.
func TestLoginOras(t *testing.T) {
	testLogin(t, loginClient{
		name: "oras",
		pushArgs: func(_ *client, layout, ref string) []string {
			return []string{"cp", "--from-oci-layout", layout + ":v1", "--to-plain-http", ref}
		},
		pull: func(t *testing.T, c *client, ref string, img *testImage) {
			repo := ref[:strings.LastIndex(ref, ":")]
			expectEqual(t, "oras resolve", strings.TrimSpace(c.run(t, "resolve", "--plain-http", ref)), img.manifest.digest)
			expectBytes(t, "oras manifest fetch", []byte(c.run(t, "manifest", "fetch", "--plain-http", ref)), img.manifest.data)
			expectBytes(t, "oras blob fetch (layer)", []byte(c.run(t, "blob", "fetch", "--plain-http", "--output", "-", repo+"@"+img.layer.digest)), img.layer.data)
			dir := filepath.Join(t.TempDir(), "pulled")
			c.run(t, "cp", "--from-plain-http", ref, "--to-oci-layout", dir+":v1")
			expectEqual(t, "manifest digest in the pulled OCI layout", layoutManifestDigest(t, dir, "v1"), img.manifest.digest)
			checkLayoutBlob(t, dir, img.layer, "layer")
			checkLayoutBlob(t, dir, img.config, "config")
		},
	})
}

// TestLoginRegctl: regctl reads the Docker config's identitytoken; its own
// config only says the registry is plain HTTP.
func TestLoginRegctl(t *testing.T) {
	testLogin(t, loginClient{
		name: "regctl",
		setup: func(t *testing.T, c *client) {
			c.run(t, "registry", "set", "--tls", "disabled", c.srv.addr)
		},
		pushArgs: func(_ *client, layout, ref string) []string {
			return []string{"image", "copy", "ocidir://" + layout + ":v1", ref}
		},
		pull: func(t *testing.T, c *client, ref string, img *testImage) {
			repo := ref[:strings.LastIndex(ref, ":")]
			expectEqual(t, "regctl image digest", strings.TrimSpace(c.run(t, "image", "digest", ref)), img.manifest.digest)
			expectBytes(t, "regctl manifest get", []byte(c.run(t, "manifest", "get", "--format", "raw-body", ref)), img.manifest.data)
			expectBytes(t, "regctl blob get (layer)", []byte(c.run(t, "blob", "get", repo, img.layer.digest)), img.layer.data)
			dir := filepath.Join(t.TempDir(), "pulled")
			c.run(t, "image", "copy", ref, "ocidir://"+dir+":v1")
			expectEqual(t, "manifest digest in the pulled OCI layout", layoutManifestDigest(t, dir, "v1"), img.manifest.digest)
			checkLayoutBlob(t, dir, img.layer, "layer")
			checkLayoutBlob(t, dir, img.config, "config")
		},
	})
}

// TestLoginSkopeo: skopeo (containers/image) finds no auth.json of its own
// and falls back to $DOCKER_CONFIG/config.json, where moat acr login wrote
// the identitytoken. As root it runs in a private mount namespace, since
// skopeo copy writes its blob-info cache to /var/lib/containers/cache.
func TestLoginSkopeo(t *testing.T) {
	defer expectSystemUntouched(t)()
	testLogin(t, loginClient{
		name:  "skopeo",
		setup: confineContainersTool,
		pushArgs: func(_ *client, layout, ref string) []string {
			return []string{"--insecure-policy", "copy", "--preserve-digests", "--dest-tls-verify=false", "oci:" + layout + ":v1", "docker://" + ref}
		},
		pull: func(t *testing.T, c *client, ref string, img *testImage) {
			expectBytes(t, "skopeo inspect --raw", []byte(c.run(t, "--insecure-policy", "inspect", "--tls-verify=false", "--raw", "docker://"+ref)), img.manifest.data)
			expectBytes(t, "skopeo inspect --config --raw", []byte(c.run(t, "--insecure-policy", "inspect", "--tls-verify=false", "--config", "--raw", "docker://"+ref)), img.config.data)
			dir := filepath.Join(t.TempDir(), "pulled")
			c.run(t, "--insecure-policy", "copy", "--preserve-digests", "--src-tls-verify=false", "docker://"+ref, "oci:"+dir+":v1")
			expectEqual(t, "manifest digest in the pulled OCI layout", layoutManifestDigest(t, dir, "v1"), img.manifest.digest)
			checkLayoutBlob(t, dir, img.layer, "layer")
			checkLayoutBlob(t, dir, img.config, "config")
		},
	})
}

// TestLoginPodman: podman pulls an image crane pushed, tags it and pushes the
// new tag, both with the credential moat acr login wrote (podman is pointed
// at it with REGISTRY_AUTH_FILE=$DOCKER_CONFIG/config.json). Podman keeps
// its images in the test's temporary directory (vfs driver, --root,
// --runroot, its own containers.conf and storage.conf); no container runs.
func TestLoginPodman(t *testing.T) {
	defer expectSystemUntouched(t)()
	pusher := newClient(t, "podman")
	s := pusher.srv
	setupPodman(t, pusher)
	crane := siblingClient(t, pusher, "crane") // same HOME: the same Docker config
	reg := s.createRegistry(t, "loginpodman")
	const repo = "login/app"
	name := reg + "/" + repo
	img := newTestImage(t, "amd64")
	ref := s.ref(reg, repo, ":v1")
	ref2 := s.ref(reg, repo, ":v2")

	var pushUser acrUser
	step(t, "AcrPush user: moat acr login", func(t *testing.T) {
		pushUser = s.newACRUser(t, "pusher", "AcrPush", reg)
		pusher.acrLogin(t, pushUser, reg)
	})
	step(t, "crane push", func(t *testing.T) {
		crane.run(t, "push", "--insecure", imageLayout(t, img, "v1"), ref)
		expectInRegistry(t, s, name, "v1", img.manifest.digest)
	})
	step(t, "AcrPush user: podman pull", func(t *testing.T) {
		pusher.run(t, "pull", "--tls-verify=false", ref)
		expectEqual(t, "podman image inspect .Digest", strings.TrimSpace(pusher.run(t, "image", "inspect", "--format", "{{.Digest}}", ref)), img.manifest.digest)
	})
	step(t, "AcrPush user: podman tag and push", func(t *testing.T) {
		pusher.run(t, "tag", ref, ref2)
		pusher.run(t, "push", "--tls-verify=false", ref2)
		// podman recompresses the layer, so the manifest differs; the config
		// and the layer's files must be what crane pushed.
		m := []byte(crane.run(t, "manifest", "--insecure", ref2))
		var man manifestJSON
		if err := json.Unmarshal(m, &man); err != nil || man.Config == nil || len(man.Layers) != 1 {
			t.Fatalf("the manifest podman pushed is not a one-layer image (%v):\n%s", err, m)
		}
		expectEqual(t, "config digest of the image podman pushed", man.Config.Digest, img.config.digest)
		layer := []byte(crane.run(t, "blob", "--insecure", s.ref(reg, repo, "@"+man.Layers[0].Digest)))
		expectBytes(t, img.fileName+" in the layer podman pushed", tarFile(t, layer, img.fileName), img.fileContent)
		expectInRegistry(t, s, name, "v2", digestOf(m))
		// podman pulls its own push back.
		pusher.run(t, "rmi", ref2)
		pusher.run(t, "pull", "--tls-verify=false", ref2)
		pusher.expectOnlyACRLoginCredential(t, pushUser)
	})

	puller := newClient(t, "podman")
	setupPodman(t, puller)
	var pullUser acrUser
	step(t, "AcrPull user: moat acr login", func(t *testing.T) {
		pullUser = s.newACRUser(t, "puller", "AcrPull", reg)
		puller.acrLogin(t, pullUser, reg)
	})
	step(t, "AcrPull user: podman pull", func(t *testing.T) {
		puller.run(t, "pull", "--tls-verify=false", ref)
		expectEqual(t, "podman image inspect .Digest", strings.TrimSpace(puller.run(t, "image", "inspect", "--format", "{{.Digest}}", ref)), img.manifest.digest)
	})
	step(t, "AcrPull user: podman push is denied", func(t *testing.T) {
		denied := s.ref(reg, repo, ":denied")
		puller.run(t, "tag", ref, denied)
		out := puller.exitFail(t, "an AcrPull user may not push", "push", "--tls-verify=false", denied)
		expectDenied(t, puller, "podman push by an AcrPull user", out)
		expectNotInRegistry(t, s, name, "denied")
		// Into a new repository too, where no blob exists yet.
		fresh := s.ref(reg, "login/fresh", ":v1")
		puller.run(t, "tag", ref, fresh)
		out = puller.exitFail(t, "an AcrPull user may not push", "push", "--tls-verify=false", fresh)
		expectDenied(t, puller, "podman push to a new repository by an AcrPull user", out)
		expectNotInRegistry(t, s, reg+"/login/fresh", "v1", img.config)
		expectInRegistry(t, s, name, "v1", img.manifest.digest)
		puller.expectOnlyACRLoginCredential(t, pullUser)
	})
}

// TestLoginExposeToken: `moat acr login --expose-token` prints the token and
// the login server and writes nothing; the token is the password of the
// all-zero user name (here with `crane auth login`).
func TestLoginExposeToken(t *testing.T) {
	pusher := newClient(t, "crane")
	s := pusher.srv
	reg := s.createRegistry(t, "loginexpose")
	const repo = "login/app"
	name := reg + "/" + repo
	img := newTestImage(t, "amd64")
	ref := s.ref(reg, repo, ":v1")

	exposed := func(t *testing.T, c *client, u acrUser) string {
		t.Helper()
		c.signIn(t, u)
		r := c.moatCLI(t, "", "acr", "login", "--name", reg, "--expose-token")
		if r.err != nil {
			t.Fatalf("moat acr login --expose-token: %v\n%s\n%s", r.err, r.stdout, r.stderr)
		}
		var v struct {
			AccessToken string `json:"accessToken"`
			LoginServer string `json:"loginServer"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatalf("moat acr login --expose-token: stdout is not JSON (%v):\n%s", err, r.stdout)
		}
		expectEqual(t, "loginServer", v.LoginServer, s.addr+"/"+reg)
		if strings.Count(v.AccessToken, ".") != 2 {
			t.Fatalf("accessToken is not a JWT: %.60q", v.AccessToken)
		}
		if _, err := os.Stat(filepath.Join(c.home, ".docker", "config.json")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("moat acr login --expose-token wrote the Docker config (stat: %v)", err)
		}
		// The --query/--output tsv form of the help's example gives the same kind of token.
		tsv := strings.TrimSpace(c.mustMoatCLI(t, "", "acr", "login", "--name", reg, "--expose-token", "--output", "tsv", "--query", "accessToken"))
		if strings.Count(tsv, ".") != 2 {
			t.Fatalf("moat acr login --expose-token --output tsv --query accessToken: not a JWT: %.60q", tsv)
		}
		return v.AccessToken
	}
	cranePassword := func(t *testing.T, c *client, tok string) {
		t.Helper()
		c.run(t, "auth", "login", s.addr, "-u", zeroUserName, "-p", tok)
		auths := c.dockerAuths(t)
		want := base64.StdEncoding.EncodeToString([]byte(zeroUserName + ":" + tok))
		if auths[s.addr]["auth"] != want {
			t.Fatalf("crane auth login did not store %s with the token as password: %v", zeroUserName, auths[s.addr])
		}
	}

	step(t, "AcrPush user", func(t *testing.T) {
		u := s.newACRUser(t, "pusher", "AcrPush", reg)
		tok := exposed(t, pusher, u)
		cranePassword(t, pusher, tok)
		pusher.run(t, "push", "--insecure", imageLayout(t, img, "v1"), ref)
		expectInRegistry(t, s, name, "v1", img.manifest.digest)
		expectBytes(t, "crane manifest", []byte(pusher.run(t, "manifest", "--insecure", ref)), img.manifest.data)
		expectBytes(t, "crane blob (layer)", []byte(pusher.run(t, "blob", "--insecure", s.ref(reg, repo, "@"+img.layer.digest))), img.layer.data)
	})
	step(t, "AcrPull user", func(t *testing.T) {
		puller := newClient(t, "crane")
		u := s.newACRUser(t, "puller", "AcrPull", reg)
		tok := exposed(t, puller, u)
		cranePassword(t, puller, tok)
		expectEqual(t, "crane digest", strings.TrimSpace(puller.run(t, "digest", "--insecure", ref)), img.manifest.digest)
		other := newTestImage(t, "amd64")
		out := puller.exitFail(t, "an AcrPull user may not push", "push", "--insecure", imageLayout(t, other, "v1"), s.ref(reg, repo, ":denied"))
		expectDenied(t, puller, "crane push with an AcrPull user's exposed token", out)
		expectNotInRegistry(t, s, name, "denied", other.layer, other.config)
	})
	step(t, "a wrong token is refused", func(t *testing.T) {
		c := newClient(t, "crane")
		r := c.exec(t, nil, "auth", "login", s.addr, "-u", zeroUserName, "-p", "not-a-token")
		if r.err == nil {
			// crane auth login does not check the credential: the use must fail.
			c.failUnauthorized(t, "digest", "--insecure", ref)
		}
	})
}

// siblingClient is another client binary sharing c's HOME and environment.
func siblingClient(t *testing.T, c *client, name string) *client {
	t.Helper()
	return &client{name: name, path: findTool(t, name), env: c.env, home: c.home, dir: c.dir, srv: c.srv}
}

// tarFile returns the content of file name in a gzipped tar.
func tarFile(t *testing.T, gz []byte, name string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("layer is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("layer has no %s", name)
		}
		if err != nil {
			t.Fatalf("layer is not a tar: %v", err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// --- keeping podman and skopeo off the machine's container storage ---
//
// Run as root, podman 4 and skopeo 1.9 (containers/image 5.2x) write their
// blob-info cache to /var/lib/containers/cache/blob-info-cache-v1.boltdb
// whatever --root says, and podman's network setup writes
// /run/containers/networks, /etc/containers/networks (unless
// network_config_dir is set) and /etc/cni/net.d/cni.lock (unless the backend
// is named). So as root they run in a private mount namespace (unshare
// --mount) where /run and /var/lib/containers are empty tmpfs; as another
// user they keep everything under $HOME already.

var (
	mountNSOnce sync.Once
	mountNSErr  error
)

// privateMountsAvailable reports whether `unshare --mount` with a tmpfs over
// /run works here (root with CAP_SYS_ADMIN).
func privateMountsAvailable() error {
	mountNSOnce.Do(func() {
		out, err := exec.Command("unshare", "--mount", "--propagation", "private", "--",
			"sh", "-ec", "mount -n -t tmpfs moat-e2e /run").CombinedOutput()
		if err != nil {
			mountNSErr = fmt.Errorf("unshare --mount ... mount -t tmpfs: %v: %s", err, bytes.TrimSpace(out))
		}
	})
	return mountNSErr
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// confineTool replaces c's binary with a script in c's HOME that runs it with
// args first and, as root, in a private mount namespace with empty tmpfs over
// /run (when hideRun) and /var/lib/containers (or /var/lib when that does not
// exist yet, so it is not created).
func confineTool(t *testing.T, c *client, hideRun bool, args ...string) {
	t.Helper()
	run := "exec " + shellQuote(c.path)
	for _, a := range args {
		run += " " + shellQuote(a)
	}
	run += ` "$@"`
	if os.Geteuid() == 0 {
		if err := privateMountsAvailable(); err != nil {
			msg := fmt.Sprintf("%s runs as root here, and would write the machine's /var/lib/containers (and /run/containers); "+
				"keeping it off them needs a private mount namespace, which is not available: %v", c.name, err)
			if e2eRequired() {
				t.Fatal("MOAT_E2E=1 but " + msg)
			}
			t.Skip("skipping: " + msg)
		}
		inner := `set -e
if [ -d /var/lib/containers ]; then mount -n -t tmpfs -o mode=0700 moat-e2e /var/lib/containers; else mount -n -t tmpfs -o mode=0755 moat-e2e /var/lib; fi
`
		if hideRun {
			inner += "mount -n -t tmpfs -o mode=0755 moat-e2e /run\n"
		}
		inner += `exec "$@"`
		run = "exec unshare --mount --propagation private -- sh -c " + shellQuote(inner) + " sh " +
			strings.TrimPrefix(run, "exec ")
	}
	dir := filepath.Join(c.home, "bin")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, c.name)
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"+run+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	c.path = script
}

// confineContainersTool confines skopeo (a loginClient setup).
func confineContainersTool(t *testing.T, c *client) {
	t.Helper()
	confineTool(t, c, false)
}

// setupPodman gives podman private storage and configuration in c's HOME and
// points it at the Docker config for credentials.
func setupPodman(t *testing.T, c *client) {
	t.Helper()
	base := filepath.Join(c.home, "podman")
	dirs := map[string]string{}
	for _, d := range []string{"root", "runroot", "tmp", "networks"} {
		dirs[d] = filepath.Join(base, d)
		if err := os.MkdirAll(dirs[d], 0o700); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"containers.conf": fmt.Sprintf(`[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
tmp_dir = %q
volume_path = %q
image_copy_tmp_dir = %q

[network]
network_backend = "netavark"
network_config_dir = %q
`, filepath.Join(base, "events.log"), dirs["tmp"], filepath.Join(dirs["root"], "volumes"), dirs["tmp"], dirs["networks"]),
		"storage.conf": fmt.Sprintf(`[storage]
driver = "vfs"
graphroot = %q
runroot = %q
`, dirs["root"], dirs["runroot"]),
		"registries.conf": "unqualified-search-registries = []\n",
		"policy.json":     `{"default":[{"type":"insecureAcceptAnything"}]}` + "\n",
	}
	for n, content := range files {
		if err := os.WriteFile(filepath.Join(base, n), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var env []string
	for _, kv := range c.env {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CONTAINERS_") || k == "TMPDIR" || k == "REGISTRY_AUTH_FILE" {
			continue
		}
		env = append(env, kv)
	}
	c.env = append(env,
		"CONTAINERS_CONF="+filepath.Join(base, "containers.conf"),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(base, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF="+filepath.Join(base, "registries.conf"),
		"TMPDIR="+dirs["tmp"],
		// podman would find it anyway (it falls back to $DOCKER_CONFIG/config.json);
		// the variable is how its users point it at the Docker config.
		"REGISTRY_AUTH_FILE="+filepath.Join(c.home, ".docker", "config.json"),
	)
	confineTool(t, c, true,
		"--root", dirs["root"], "--runroot", dirs["runroot"], "--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs", "--events-backend", "file", "--tmpdir", dirs["tmp"],
		"--network-config-dir", dirs["networks"])
	// Signature policy: the test's own, not /etc/containers/policy.json.
	policy := filepath.Join(base, "policy.json")
	real := c.path
	c.path = filepath.Join(c.home, "bin", "podman-policy")
	script := fmt.Sprintf(`#!/bin/sh
case "$1" in pull|push) cmd=$1; shift; exec %s "$cmd" --signature-policy %s "$@";; esac
exec %s "$@"
`, shellQuote(real), shellQuote(policy), shellQuote(real))
	if err := os.WriteFile(c.path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	if out := c.exec(t, nil, "info", "--format", "{{.Store.GraphDriverName}} {{.Store.GraphRoot}}"); out.err != nil {
		t.Fatalf("podman cannot start with private storage in %s:\n%s", base, c.describe([]string{"info"}, out))
	} else if got := strings.TrimSpace(out.stdout); got != "vfs "+dirs["root"] {
		t.Fatalf("podman info: storage %q, want vfs in %s", got, dirs["root"])
	}
}

// systemPaths are where podman and skopeo keep machine-wide state; the login
// tests must leave them alone.
func systemPaths() []string {
	paths := []string{"/var/lib/containers", "/run/containers", "/etc/containers", "/etc/cni", "/run/libpod"}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		paths = append(paths, filepath.Join(home, ".docker"), filepath.Join(home, ".config", "containers"),
			filepath.Join(home, ".local", "share", "containers"))
	}
	return paths
}

// snapshotTree records path, kind, size and modification time of everything under roots.
func snapshotTree(roots []string) map[string]string {
	snap := map[string]string{}
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					snap[p] = "error: " + err.Error()
				}
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			snap[p] = fmt.Sprintf("%v %d %d", info.Mode(), info.Size(), info.ModTime().UnixNano())
			return nil
		})
	}
	return snap
}

// expectSystemUntouched snapshots systemPaths; the returned func fails the
// test if any of them changed meanwhile.
func expectSystemUntouched(t *testing.T) func() {
	t.Helper()
	before := snapshotTree(systemPaths())
	return func() {
		t.Helper()
		after := snapshotTree(systemPaths())
		var changed []string
		for p, v := range after {
			if before[p] != v {
				changed = append(changed, p)
			}
		}
		for p := range before {
			if _, ok := after[p]; !ok {
				changed = append(changed, p+" (removed)")
			}
		}
		sort.Strings(changed)
		if len(changed) > 0 {
			t.Errorf("the test changed the machine's container state outside its temporary directories: %s", strings.Join(changed, ", "))
		}
	}
}
