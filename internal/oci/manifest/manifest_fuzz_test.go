package manifest_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"reflect"
	"testing"

	"github.com/moat-registry/moat/internal/oci/manifest"
	"github.com/moat-registry/moat/internal/oci/names"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	configDigest = digest.FromString("config")
	layerDigest  = digest.FromString("layer")
	emptyData    = base64.StdEncoding.EncodeToString([]byte("{}"))
)

func desc(mt string, d digest.Digest, size int) string {
	b, _ := json.Marshal(map[string]any{"mediaType": mt, "digest": d, "size": size})
	return string(b)
}

// seeds are (Content-Type, body) pairs: each supported shape, and near misses.
var seeds = []struct{ ct, body string }{
	{manifest.OCIManifest, `{"schemaVersion":2,"mediaType":"` + manifest.OCIManifest + `","config":` + desc(ocispec.MediaTypeImageConfig, configDigest, 6) + `,"layers":[` + desc(ocispec.MediaTypeImageLayer, layerDigest, 5) + `]}`},
	{"", `{"schemaVersion":2,"config":` + desc(ocispec.MediaTypeImageConfig, configDigest, 6) + `,"layers":[]}`},
	{manifest.OCIIndex, `{"schemaVersion":2,"manifests":[` + desc(manifest.OCIManifest, configDigest, 100) + `]}`},
	{"", `{"schemaVersion":2,"manifests":[]}`},
	{manifest.DockerManifest, `{"schemaVersion":2,"mediaType":"` + manifest.DockerManifest + `","config":` + desc("application/vnd.docker.container.image.v1+json", configDigest, 6) + `,"layers":[]}`},
	{manifest.DockerList + "; charset=utf-8", `{"schemaVersion":2,"mediaType":"` + manifest.DockerList + `","manifests":[]}`},
	{manifest.OCIManifest, `{"schemaVersion":2,"artifactType":"application/vnd.test","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + digest.FromString("{}").String() + `","size":2,"data":"` + emptyData + `"},"layers":[],"subject":` + desc(manifest.OCIManifest, layerDigest, 10) + `,"annotations":{"a":"b"}}`},
	{manifest.OCIManifest, `{"schemaVersion":2,"config":{"mediaType":"x","digest":"` + configDigest.String() + `","size":3,"data":"` + emptyData + `"}}`},
	{manifest.OCIManifest, `{"schemaVersion":2,"config":` + desc("x", digest.SHA512.FromString("c"), 1) + `,"subject":{"digest":"sha256:00"}}`},
	{manifest.OCIManifest, `{"schemaVersion":1}`},
	{manifest.OCIManifest, `{"schemaVersion":2,"config":` + desc("x", configDigest, -1) + `}`},
	{manifest.OCIIndex, `{"schemaVersion":2,"mediaType":"` + manifest.OCIManifest + `","manifests":[]}`},
	{"application/json", `{"schemaVersion":2}`},
	{"bad/;;", `{}`},
	{"", `null`},
	{"", `{"schemaVersion":2,"config":null,"layers":null}`},
	{"", `[`},
}

func TestParseSeeds(t *testing.T) {
	accepted := map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true, 6: true}
	for i, s := range seeds {
		p, err := manifest.Parse(s.ct, []byte(s.body))
		if (err == nil) != accepted[i] {
			t.Errorf("seed %d (%s): err %v", i, s.body, err)
		}
		if i == 6 && (p.Subject == nil || p.ArtifactType != "application/vnd.test" || p.Annotations["a"] != "b") {
			t.Errorf("artifact fields lost: %+v", p)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		p, err := manifest.Parse(ct, body)
		if err != nil {
			// The handler turns *manifest.Error into MANIFEST_INVALID and
			// anything else into a 500.
			var merr *manifest.Error
			if !errors.As(err, &merr) || merr.Msg == "" || p != nil {
				t.Fatalf("Parse(%q, %q) = %v, %#v: want a *manifest.Error with a message", ct, body, p, err)
			}
			return
		}
		if len(body) > manifest.MaxSize || !json.Valid(body) {
			t.Fatalf("accepted %d bytes of invalid JSON or too many", len(body))
		}
		switch p.MediaType {
		case manifest.OCIManifest, manifest.DockerManifest:
			if p.IsIndex() || len(p.Blobs) == 0 || p.Manifests != nil {
				t.Fatalf("image manifest %+v", p)
			}
			if p.MediaType == manifest.OCIManifest && p.ArtifactType == "" && p.Blobs[0].MediaType != "" {
				t.Fatalf("OCI manifest without artifactType does not report its config type: %+v", p)
			}
		case manifest.OCIIndex, manifest.DockerList:
			if !p.IsIndex() || p.Blobs != nil {
				t.Fatalf("index %+v", p)
			}
		default:
			t.Fatalf("accepted media type %q", p.MediaType)
		}
		if t0, _, err := mime.ParseMediaType(ct); ct != "" && (err != nil || t0 != p.MediaType) {
			t.Fatalf("accepted Content-Type %q for a manifest of type %q", ct, p.MediaType)
		}
		all := append(append([]ocispec.Descriptor{}, p.Blobs...), p.Manifests...)
		if p.Subject != nil {
			all = append(all, *p.Subject)
		}
		for _, d := range all {
			if _, ok := names.ParseDigest(d.Digest.String()); !ok || d.Size < 0 {
				t.Fatalf("accepted descriptor %+v", d)
			}
			if d.Data != nil && (int64(len(d.Data)) != d.Size || d.Digest.Algorithm().FromBytes(d.Data) != d.Digest) {
				t.Fatalf("accepted descriptor with wrong data %+v", d)
			}
		}
		// Parsing is a function of its input.
		if p2, err := manifest.Parse(ct, body); err != nil || !reflect.DeepEqual(p, p2) {
			t.Fatalf("second parse differs: %v", err)
		}
		// Only a schemaVersion of exactly 2 gets through.
		var sv struct{ SchemaVersion *int }
		if json.Unmarshal(body, &sv) != nil || sv.SchemaVersion == nil || *sv.SchemaVersion != 2 {
			t.Fatalf("accepted without schemaVersion 2: %q", body)
		}
	})
}
