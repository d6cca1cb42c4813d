package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/containers/azcontainerregistry"
	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/opencontainers/go-digest"
)

// acrClients are the SDK's data-plane clients for one registry.
type acrClients struct {
	c    *azcontainerregistry.Client
	blob *azcontainerregistry.BlobClient
}

func (e *hostEnv) acrClients(t *testing.T, reg string, cred azcore.TokenCredential) acrClients {
	t.Helper()
	opts := e.clientOptions()
	// A custom cloud must name the service's audience: the one the SDK
	// asks for in Azure's public cloud, as ACR takes it at /oauth2/exchange.
	opts.Cloud.Services = map[cloud.ServiceName]cloud.ServiceConfiguration{azcontainerregistry.ServiceName: {Audience: token.ACRAudience}}
	c, err := azcontainerregistry.NewClient(e.loginServerURL(reg), cred, &azcontainerregistry.ClientOptions{ClientOptions: opts})
	must(t, err, "client")
	b, err := azcontainerregistry.NewBlobClient(e.loginServerURL(reg), cred, &azcontainerregistry.BlobClientOptions{ClientOptions: opts})
	must(t, err, "blob client")
	return acrClients{c, b}
}

// uploadBlob uploads data with the BlobClient: start, one chunk, complete.
func (a acrClients) uploadBlob(t *testing.T, repo string, data []byte) digest.Digest {
	t.Helper()
	ctx := context.Background()
	start, err := a.blob.StartUpload(ctx, repo, nil)
	must(t, err, "start upload")
	calc := azcontainerregistry.NewBlobDigestCalculator()
	chunk, err := a.blob.UploadChunk(ctx, *start.Location, bytes.NewReader(data), calc, nil)
	must(t, err, "upload chunk")
	done, err := a.blob.CompleteUpload(ctx, *chunk.Location, calc, nil)
	must(t, err, "complete upload")
	if d := digest.FromBytes(data); *done.DockerContentDigest != d.String() {
		t.Fatalf("uploaded digest %s, want %s", *done.DockerContentDigest, d)
	}
	return digest.FromBytes(data)
}

// pushImage uploads a config and a layer and the manifest, tagged tag.
func (a acrClients) pushImage(t *testing.T, repo, tag, seed string) (digest.Digest, []byte) {
	t.Helper()
	cfg := []byte(`{"architecture":"arm64","os":"linux","seed":"` + seed + `"}`)
	layer := []byte("layer of " + seed)
	cd, ld := a.uploadBlob(t, repo, cfg), a.uploadBlob(t, repo, layer)
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`, cd, len(cfg), ld, len(layer)))
	res, err := a.c.UploadManifest(context.Background(), repo, tag, azcontainerregistry.ContentTypeApplicationVndOciImageManifestV1JSON,
		streaming.NopCloser(bytes.NewReader(m)), nil)
	must(t, err, "upload manifest %s:%s", repo, tag)
	if *res.DockerContentDigest != digest.FromBytes(m).String() {
		t.Fatalf("manifest digest %s", *res.DockerContentDigest)
	}
	return digest.FromBytes(m), m
}

// wantDisallowed checks that err is ACR's refusal by a lock (the SDK reads
// no error code out of ACR's {"errors":[...]} body; its message shows it).
func wantDisallowed(t *testing.T, err error, what string) {
	t.Helper()
	if !isStatus(err, http.StatusMethodNotAllowed) || !strings.Contains(err.Error(), `"code": "REGISTRY_DISALLOWED_OPERATION"`) {
		t.Fatalf("%s: %v, want 405 REGISTRY_DISALLOWED_OPERATION", what, err)
	}
}

// TestContainerRegistrySDK drives moat's data plane with the Azure SDK for
// Go's azcontainerregistry module, signed in as a service principal at
// moat's authority: blob and manifest upload and download, the listings,
// properties and their updates, locks, and deletes.
func TestContainerRegistrySDK(t *testing.T) {
	e := startHostStyle(t)
	appID, secret := e.servicePrincipal(t, "sdkacr", "AcrPush", "AcrDelete")
	a := e.acrClients(t, "sdkacr", e.spCredential(t, appID, secret))
	ctx := context.Background()

	d1, m1 := a.pushImage(t, "sdk/app", "v1", "one")
	d2, _ := a.pushImage(t, "sdk/app", "v2", "two")
	a.pushImage(t, "other", "latest", "three")

	// Download what was uploaded.
	got, err := a.c.GetManifest(ctx, "sdk/app", "v1", &azcontainerregistry.ClientGetManifestOptions{Accept: to.Ptr(string(azcontainerregistry.ContentTypeApplicationVndOciImageManifestV1JSON))})
	must(t, err, "get manifest")
	body, _ := io.ReadAll(got.ManifestData)
	if !bytes.Equal(body, m1) || *got.DockerContentDigest != d1.String() {
		t.Fatalf("downloaded manifest %s (%s)", body, *got.DockerContentDigest)
	}
	layer := digest.FromBytes([]byte("layer of one"))
	blob, err := a.blob.GetBlob(ctx, "sdk/app", layer.String(), nil)
	must(t, err, "get blob")
	content, _ := io.ReadAll(blob.BlobData)
	if string(content) != "layer of one" {
		t.Fatalf("downloaded blob %q", content)
	}

	// Listings, a page at a time, as the pagers follow the Link headers.
	var repos []string
	for pager := a.c.NewListRepositoriesPager(&azcontainerregistry.ClientListRepositoriesOptions{MaxNum: to.Ptr[int32](1)}); pager.More(); {
		page, err := pager.NextPage(ctx)
		must(t, err, "list repositories")
		for _, n := range page.Repositories.Names {
			repos = append(repos, *n)
		}
	}
	if !slices.Equal(repos, []string{"other", "sdk/app"}) {
		t.Fatalf("repositories %v", repos)
	}
	var tags []string
	for pager := a.c.NewListTagsPager("sdk/app", &azcontainerregistry.ClientListTagsOptions{MaxNum: to.Ptr[int32](1),
		OrderBy: to.Ptr(azcontainerregistry.ArtifactTagOrderByLastUpdatedOnDescending)}); pager.More(); {
		page, err := pager.NextPage(ctx)
		must(t, err, "list tags")
		// The login server names the port: the listener is not on 443.
		if *page.RegistryLoginServer != "sdkacr."+hostSuffix+":"+e.port || *page.Repository != "sdk/app" {
			t.Fatalf("tag page of %s %s", *page.RegistryLoginServer, *page.Repository)
		}
		for _, tag := range page.Tags {
			tags = append(tags, *tag.Name)
		}
	}
	if !slices.Equal(tags, []string{"v2", "v1"}) {
		t.Fatalf("tags newest first: %v", tags)
	}
	var manifests []*azcontainerregistry.ManifestAttributes
	for pager := a.c.NewListManifestsPager("sdk/app", nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		must(t, err, "list manifests")
		manifests = append(manifests, page.Attributes...)
	}
	if len(manifests) != 2 {
		t.Fatalf("%d manifests", len(manifests))
	}

	// Properties.
	repo, err := a.c.GetRepositoryProperties(ctx, "sdk/app", nil)
	must(t, err, "repository properties")
	if *repo.Name != "sdk/app" || *repo.ManifestCount != 2 || *repo.TagCount != 2 || !*repo.ChangeableAttributes.CanDelete || repo.CreatedOn.IsZero() {
		t.Fatalf("repository properties %+v", repo.ContainerRepositoryProperties)
	}
	mp, err := a.c.GetManifestProperties(ctx, "sdk/app", d1.String(), nil)
	must(t, err, "manifest properties")
	if m := mp.Manifest; *m.Digest != d1.String() || *m.Architecture != azcontainerregistry.ArtifactArchitectureArm64 ||
		*m.OperatingSystem != azcontainerregistry.ArtifactOperatingSystemLinux || !slices.Equal(ptrs(m.Tags), []string{"v1"}) || *m.Size <= int64(len(m1)) {
		t.Fatalf("manifest properties %+v", *m)
	}
	tp, err := a.c.GetTagProperties(ctx, "sdk/app", "v2", nil)
	must(t, err, "tag properties")
	if *tp.Tag.Digest != d2.String() || !*tp.Tag.ChangeableAttributes.CanWrite {
		t.Fatalf("tag properties %+v", *tp.Tag)
	}

	// Lock the tag: it cannot be moved or deleted until unlocked.
	up, err := a.c.UpdateTagProperties(ctx, "sdk/app", "v1", &azcontainerregistry.ClientUpdateTagPropertiesOptions{
		Value: &azcontainerregistry.TagWriteableProperties{CanWrite: to.Ptr(false), CanDelete: to.Ptr(false)}})
	must(t, err, "lock tag")
	if *up.Tag.ChangeableAttributes.CanWrite || *up.Tag.ChangeableAttributes.CanDelete || !*up.Tag.ChangeableAttributes.CanRead {
		t.Fatalf("locked tag %+v", *up.Tag.ChangeableAttributes)
	}
	_, err = a.c.UploadManifest(ctx, "sdk/app", "v1", azcontainerregistry.ContentTypeApplicationVndOciImageManifestV1JSON,
		streaming.NopCloser(bytes.NewReader(m1)), nil)
	wantDisallowed(t, err, "push to a locked tag")
	_, err = a.c.DeleteTag(ctx, "sdk/app", "v1", nil)
	wantDisallowed(t, err, "delete a locked tag")
	_, err = a.c.DeleteManifest(ctx, "sdk/app", d1.String(), nil)
	wantDisallowed(t, err, "delete the manifest of a locked tag")
	_, err = a.c.UpdateTagProperties(ctx, "sdk/app", "v1", &azcontainerregistry.ClientUpdateTagPropertiesOptions{
		Value: &azcontainerregistry.TagWriteableProperties{CanWrite: to.Ptr(true), CanDelete: to.Ptr(true)}})
	must(t, err, "unlock tag")

	// Hide the manifest and the repository from listings, lock a manifest.
	_, err = a.c.UpdateManifestProperties(ctx, "sdk/app", d2.String(), &azcontainerregistry.ClientUpdateManifestPropertiesOptions{
		Value: &azcontainerregistry.ManifestWriteableProperties{CanList: to.Ptr(false)}})
	must(t, err, "hide manifest")
	page, err := a.c.NewListManifestsPager("sdk/app", nil).NextPage(ctx)
	must(t, err, "list manifests")
	if len(page.Attributes) != 1 || *page.Attributes[0].Digest != d1.String() {
		t.Fatalf("manifests with one hidden: %d", len(page.Attributes))
	}
	rp, err := a.c.UpdateRepositoryProperties(ctx, "other", &azcontainerregistry.ClientUpdateRepositoryPropertiesOptions{
		Value: &azcontainerregistry.RepositoryWriteableProperties{CanList: to.Ptr(false), CanDelete: to.Ptr(false)}})
	must(t, err, "update repository")
	if *rp.ChangeableAttributes.CanList || *rp.ChangeableAttributes.CanDelete {
		t.Fatalf("repository after update %+v", *rp.ChangeableAttributes)
	}
	rpage, err := a.c.NewListRepositoriesPager(nil).NextPage(ctx)
	must(t, err, "list repositories")
	if len(rpage.Names) != 1 || *rpage.Names[0] != "sdk/app" {
		t.Fatalf("repositories with one hidden: %v", ptrs(rpage.Names))
	}
	_, err = a.c.DeleteRepository(ctx, "other", nil)
	wantDisallowed(t, err, "delete a delete-locked repository")

	// Deletes.
	_, err = a.c.DeleteTag(ctx, "sdk/app", "v2", nil)
	must(t, err, "delete tag")
	if _, err := a.c.GetTagProperties(ctx, "sdk/app", "v2", nil); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("deleted tag: %v", err)
	}
	_, err = a.c.DeleteManifest(ctx, "sdk/app", d2.String(), nil)
	must(t, err, "delete manifest")
	_, err = a.blob.DeleteBlob(ctx, "sdk/app", layer.String(), nil)
	must(t, err, "delete blob")
	_, err = a.c.DeleteRepository(ctx, "sdk/app", nil)
	must(t, err, "delete repository")
	if _, err := a.c.GetRepositoryProperties(ctx, "sdk/app", nil); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("deleted repository: %v", err)
	}
}

func ptrs(s []*string) []string {
	out := []string{}
	for _, p := range s {
		out = append(out, *p)
	}
	return out
}

func isStatus(err error, status int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}
