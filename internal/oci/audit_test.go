package oci_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/audit/audittest"
	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/oci"
	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// gate lets "Bearer rw" do anything to manifests as rw-user and "Bearer
// ro" pull them as ro-user; anything else gets the 401 challenge. Blobs are
// open.
type gate struct{}

func (gate) Authorize(r *http.Request, needs []token.Access) (string, error) {
	if !strings.Contains(r.URL.Path, "/manifests/") {
		return "", nil
	}
	switch r.Header.Get("Authorization") {
	case "Bearer rw":
		return "rw-user", nil
	case "Bearer ro":
		for _, n := range needs {
			for _, a := range n.Actions {
				if a != "pull" {
					return "ro-user", errcode.New(errcode.Denied, "")
				}
			}
		}
		return "ro-user", nil
	}
	return "", errcode.New(errcode.Unauthorized, "")
}

func (gate) MayList(*http.Request, string, *regindex.Registry) bool { return true }

// TestManifestEventsAreRecorded (issue 17 item 2): the data plane records
// manifest pushes, pulls (GET, not HEAD) and deletes itself, with the
// token's subject and the outcome; a refused request of a client that
// showed a token is a failure, and the anonymous first try of a client
// (401 before it fetches a token) is not recorded.
func TestManifestEventsAreRecorded(t *testing.T) {
	rec := &audittest.Recorder{}
	e := newEnvWith(t, func(h *oci.Handler) { h.Auth, h.Audit = gate{}, rec })
	name := pathStyle.repo("app")
	e.do(t, http.MethodGet, "", "/v2/"+name+"/manifests/v1", nil) // anonymous: 401
	ok := "Bearer rw"
	cfg, layer := []byte(`{"architecture":"amd64","os":"linux"}`), []byte("layer")
	body := newManifest(t,
		ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: e.pushBlob(t, "", name, cfg), Size: int64(len(cfg))},
		ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: e.pushBlob(t, "", name, layer), Size: int64(len(layer))}, "", nil)
	im := digest.FromBytes(body)
	want(t, e.do(t, http.MethodPut, "", "/v2/"+name+"/manifests/v1", body, "Content-Type", ocispec.MediaTypeImageManifest, "Authorization", ok), http.StatusCreated)
	want(t, e.do(t, http.MethodHead, "", "/v2/"+name+"/manifests/v1", nil, "Authorization", ok), http.StatusOK)
	want(t, e.do(t, http.MethodGet, "", "/v2/"+name+"/manifests/v1", nil, "Authorization", "Bearer ro"), http.StatusOK)
	want(t, e.do(t, http.MethodDelete, "", "/v2/"+name+"/manifests/v1", nil, "Authorization", "Bearer ro"), http.StatusForbidden)
	want(t, e.do(t, http.MethodDelete, "", "/v2/"+name+"/manifests/v1", nil, "Authorization", ok), http.StatusAccepted)
	want(t, e.do(t, http.MethodGet, "", "/v2/"+name+"/manifests/v1", nil, "Authorization", ok), http.StatusNotFound)
	type ev struct{ typ, outcome, principal, ref, digest, detail string }
	wantEvs := []ev{
		{audit.TypePush, audit.Success, "rw-user", "v1", im.String(), ""},
		{audit.TypePull, audit.Success, "ro-user", "v1", im.String(), ""},
		{audit.TypeDelete, audit.Failure, "ro-user", "v1", "", "HTTP 403"},
		{audit.TypeDelete, audit.Success, "rw-user", "v1", "", ""},
		{audit.TypePull, audit.Failure, "rw-user", "v1", "", "HTTP 404"},
	}
	got := rec.Take()
	if len(got) != len(wantEvs) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(wantEvs), got)
	}
	for i, g := range got {
		w := wantEvs[i]
		if (ev{g.Type, g.Outcome, g.Principal, g.Reference, g.Digest, g.Detail}) != w || g.Registry != regA || g.Repository != "app" {
			t.Errorf("event %d: %+v, want %+v", i, g, w)
		}
	}
}
