package oci_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func off() *bool { f := false; return &f }

// TestLocksThroughV2 checks that the changeable attributes hold for the
// distribution API: each case locks something in repository app (image v1
// pushed, plus an untagged image) and sends one request.
func TestLocksThroughV2(t *testing.T) {
	ctx := context.Background()
	type lock struct {
		kind string // repository, tag or manifest (of v1)
		p    meta.AttributesPatch
	}
	var (
		repoWrite = lock{"repository", meta.AttributesPatch{WriteEnabled: off()}}
		repoRead  = lock{"repository", meta.AttributesPatch{ReadEnabled: off()}}
		repoList  = lock{"repository", meta.AttributesPatch{ListEnabled: off()}}
		tagWrite  = lock{"tag", meta.AttributesPatch{WriteEnabled: off()}}
		tagDelete = lock{"tag", meta.AttributesPatch{DeleteEnabled: off()}}
		tagRead   = lock{"tag", meta.AttributesPatch{ReadEnabled: off()}}
		tagList   = lock{"tag", meta.AttributesPatch{ListEnabled: off()}}
		manWrite  = lock{"manifest", meta.AttributesPatch{WriteEnabled: off()}}
		manDelete = lock{"manifest", meta.AttributesPatch{DeleteEnabled: off()}}
	)
	type fixture struct{ v1, other image }
	cases := []struct {
		name   string
		lock   lock
		method string
		path   func(f fixture) string // after /v2/alpha/app/
		body   func(f fixture) []byte
		status int
		unlock string // in the refusal's message
	}{
		{"push a tag to a locked repository", repoWrite, http.MethodPut, func(f fixture) string { return "manifests/v2" }, func(f fixture) []byte { return f.other.manifest },
			405, "--repository app --write-enabled true"},
		{"start an upload into a locked repository", repoWrite, http.MethodPost, func(fixture) string { return "blobs/uploads/" }, nil,
			405, "--repository app --write-enabled true"},
		{"delete a blob of a locked repository", repoWrite, http.MethodDelete, func(f fixture) string { return "blobs/" + f.v1.layer.Digest.String() }, nil,
			405, "--repository app --write-enabled true"},
		{"untag in a locked repository", repoWrite, http.MethodDelete, func(fixture) string { return "manifests/v1" }, nil, 405, "--repository app"},
		{"pull from a write-locked repository", repoWrite, http.MethodGet, func(fixture) string { return "manifests/v1" }, nil, 200, ""},
		{"pull from a read-locked repository", repoRead, http.MethodGet, func(fixture) string { return "manifests/v1" }, nil,
			405, "--repository app --read-enabled true"},
		{"download a blob of a read-locked repository", repoRead, http.MethodGet, func(f fixture) string { return "blobs/" + f.v1.layer.Digest.String() }, nil,
			405, "--read-enabled true"},
		{"check a blob of a read-locked repository", repoRead, http.MethodHead, func(f fixture) string { return "blobs/" + f.v1.layer.Digest.String() }, nil, 200, ""},
		{"move a locked tag", tagWrite, http.MethodPut, func(fixture) string { return "manifests/v1" }, func(f fixture) []byte { return f.other.manifest },
			405, "--image app:v1 --write-enabled true"},
		{"untag a locked tag", tagWrite, http.MethodDelete, func(fixture) string { return "manifests/v1" }, nil, 405, "--image app:v1"},
		{"delete the manifest of a locked tag", tagDelete, http.MethodDelete, func(f fixture) string { return "manifests/" + f.v1.digest.String() }, nil,
			405, "--image app:v1 --delete-enabled true"},
		{"delete another manifest", tagDelete, http.MethodDelete, func(f fixture) string { return "manifests/" + f.other.digest.String() }, nil, 202, ""},
		{"pull a read-locked tag", tagRead, http.MethodGet, func(fixture) string { return "manifests/v1" }, nil, 405, "--image app:v1 --read-enabled true"},
		{"pull a read-locked tag's manifest by digest", tagRead, http.MethodGet, func(f fixture) string { return "manifests/" + f.v1.digest.String() }, nil, 200, ""},
		{"pull a hidden tag", tagList, http.MethodGet, func(fixture) string { return "manifests/v1" }, nil, 200, ""},
		{"tag onto a locked manifest", manWrite, http.MethodPut, func(fixture) string { return "manifests/v2" }, func(f fixture) []byte { return f.v1.manifest },
			405, "--image app@sha256:"},
		{"delete a delete-locked manifest", manDelete, http.MethodDelete, func(f fixture) string { return "manifests/" + f.v1.digest.String() }, nil,
			405, "--delete-enabled true"},
		{"move a tag off a locked manifest", manWrite, http.MethodPut, func(fixture) string { return "manifests/v1" }, func(f fixture) []byte { return f.other.manifest }, 201, ""},
		{"push to a hidden repository", repoList, http.MethodPut, func(fixture) string { return "manifests/v2" }, func(f fixture) []byte { return f.other.manifest }, 201, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			var f fixture
			f.v1 = e.pushImage(t, "", "alpha/app", "v1", "one")
			f.other = e.pushImage(t, "", "alpha/app", "", "two")
			var err error
			switch c.lock.kind {
			case "repository":
				_, err = e.meta.SetRepositoryAttributes(ctx, "alpha", "app", c.lock.p)
			case "tag":
				_, err = e.meta.SetTagAttributes(ctx, "alpha", "app", "v1", c.lock.p)
			case "manifest":
				_, err = e.meta.SetManifestAttributes(ctx, "alpha", "app", f.v1.digest, c.lock.p)
			}
			if err != nil {
				t.Fatal(err)
			}
			var body []byte
			if c.body != nil {
				body = c.body(f)
			}
			r := e.do(t, c.method, "", "/v2/alpha/app/"+c.path(f), body, "Content-Type", ocispec.MediaTypeImageManifest)
			if c.status != 405 {
				want(t, r, c.status)
				return
			}
			wantErr(t, r, 405, "REGISTRY_DISALLOWED_OPERATION")
			var eb errorBody
			json.Unmarshal(r.body, &eb)
			msg := eb.Errors[0].Message
			if !strings.HasPrefix(msg, "The operation is disallowed on this registry, repository or image") ||
				!strings.Contains(msg, "moat acr repository update --name alpha ") || !strings.Contains(msg, c.unlock) {
				t.Fatalf("message %q does not say how to unlock (%s)", msg, c.unlock)
			}
		})
	}
}

// TestListingsHideUnlisted: listEnabled false hides a tag from the tag list
// and a repository from the catalog, in both addressing styles.
func TestListingsHideUnlisted(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.pushImage(t, "", "alpha/app", "v1", "one")
	e.pushImage(t, "", "alpha/app", "v2", "two")
	e.pushImage(t, "", "alpha/secret", "v1", "three")
	if _, err := e.meta.SetTagAttributes(ctx, "alpha", "app", "v1", meta.AttributesPatch{ListEnabled: off()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.meta.SetRepositoryAttributes(ctx, "alpha", "secret", meta.AttributesPatch{ListEnabled: off()}); err != nil {
		t.Fatal(err)
	}
	for _, s := range styles {
		var tags struct{ Tags []string }
		r := e.do(t, http.MethodGet, s.host, "/v2/"+s.repo("app")+"/tags/list", nil)
		want(t, r, 200)
		json.Unmarshal(r.body, &tags)
		if !slices.Equal(tags.Tags, []string{"v2"}) {
			t.Fatalf("%s: tags %v", s.name, tags.Tags)
		}
		var cat struct{ Repositories []string }
		r = e.do(t, http.MethodGet, s.host, "/v2/"+s.prefix+"_catalog", nil)
		want(t, r, 200)
		json.Unmarshal(r.body, &cat)
		if !slices.Equal(cat.Repositories, []string{"app"}) {
			t.Fatalf("%s: catalog %v", s.name, cat.Repositories)
		}
	}
	var all struct{ Repositories []string }
	json.Unmarshal(e.do(t, http.MethodGet, "", "/v2/_catalog", nil).body, &all)
	if slices.Contains(all.Repositories, "alpha/secret") || !slices.Contains(all.Repositories, "alpha/app") {
		t.Fatalf("catalog of every registry: %v", all.Repositories)
	}
}

// TestMountFromReadLocked: a mount out of a repository that may not be read
// is not made; the client uploads instead (202).
func TestMountFromReadLocked(t *testing.T) {
	e := newEnv(t)
	im := e.pushImage(t, "", "alpha/src", "v1", "one")
	if _, err := e.meta.SetRepositoryAttributes(context.Background(), "alpha", "src", meta.AttributesPatch{ReadEnabled: off()}); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, http.MethodPost, "", "/v2/alpha/dst/blobs/uploads/?mount="+im.layer.Digest.String()+"&from=alpha/src", nil)
	want(t, r, http.StatusAccepted)
}

// TestManifestProperties: a push records what ACR's API shows of it.
func TestManifestProperties(t *testing.T) {
	e := newEnv(t)
	im := e.pushImage(t, "", "alpha/app", "v1", "one")
	m, err := e.meta.ManifestProperties(context.Background(), "alpha", "app", im.digest)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(im.manifest)) + im.config.Size + im.layer.Size
	if m.Architecture != "amd64" || m.OS != "linux" || m.ConfigMediaType != ocispec.MediaTypeImageConfig || m.Size != size {
		t.Fatalf("properties: %+v (size want %d)", m, size)
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest,
		Digest: im.digest, Size: int64(len(im.manifest)), Platform: &ocispec.Platform{Architecture: "arm64", OS: "linux"}}}}
	idx.SchemaVersion = 2
	body, _ := json.Marshal(idx)
	want(t, e.do(t, http.MethodPut, "", "/v2/alpha/app/manifests/multi", body, "Content-Type", ocispec.MediaTypeImageIndex), 201)
	mi, err := e.meta.ManifestProperties(context.Background(), "alpha", "app", digest.FromBytes(body))
	if err != nil || len(mi.References) != 1 || mi.References[0] != (meta.Platform{Digest: im.digest, Architecture: "arm64", OS: "linux"}) || mi.Architecture != "" {
		t.Fatalf("index properties: %+v %v", mi, err)
	}
}
