package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Media types used by the test content.
const (
	mtIndex    = "application/vnd.oci.image.index.v1+json"
	mtManifest = "application/vnd.oci.image.manifest.v1+json"
	mtConfig   = "application/vnd.oci.image.config.v1+json"
	mtLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	refNameKey = "org.opencontainers.image.ref.name"
)

type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type manifestJSON struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	ArtifactType  string       `json:"artifactType,omitempty"`
	Config        *descriptor  `json:"config,omitempty"`
	Layers        []descriptor `json:"layers,omitempty"`
	Manifests     []descriptor `json:"manifests,omitempty"`
	Subject       *descriptor  `json:"subject,omitempty"`
}

// blob is content with its digest.
type blob struct {
	data   []byte
	digest string // sha256:...
}

func newBlob(data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{data: data, digest: "sha256:" + hex.EncodeToString(sum[:])}
}

func (b blob) hex() string { return strings.TrimPrefix(b.digest, "sha256:") }

func (b blob) desc(mediaType string) descriptor {
	return descriptor{MediaType: mediaType, Digest: b.digest, Size: int64(len(b.data))}
}

// testImage is a single-platform OCI image with one layer.
type testImage struct {
	arch        string
	fileName    string
	fileContent []byte
	layer       blob // gzipped tar holding fileName
	config      blob
	manifest    blob
}

// newTestImage makes a small, unique linux image for arch.
func newTestImage(t *testing.T, arch string) *testImage {
	t.Helper()
	img := &testImage{
		arch:        arch,
		fileName:    "hello.txt",
		fileContent: []byte(fmt.Sprintf("hello from moat e2e %s %s\n", arch, randomHex(16))),
	}
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := tw.WriteHeader(&tar.Header{Name: img.fileName, Mode: 0o644, Size: int64(len(img.fileContent)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(img.fileContent); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	diffID := newBlob(tarBuf.Bytes()).digest
	var gzBuf bytes.Buffer
	gw := gzip.NewWriter(&gzBuf)
	if _, err := gw.Write(tarBuf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	img.layer = newBlob(gzBuf.Bytes())

	config := map[string]any{
		"architecture": arch,
		"os":           "linux",
		"created":      mtime.Format(time.RFC3339),
		"config":       map[string]any{"Cmd": []string{"/bin/true"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history":      []map[string]any{{"created": mtime.Format(time.RFC3339), "created_by": "moat e2e"}},
	}
	img.config = newBlob(mustJSON(t, config))

	cfgDesc := img.config.desc(mtConfig)
	m := manifestJSON{
		SchemaVersion: 2,
		MediaType:     mtManifest,
		Config:        &cfgDesc,
		Layers:        []descriptor{img.layer.desc(mtLayer)},
	}
	img.manifest = newBlob(mustJSON(t, m))
	return img
}

func (img *testImage) blobs() []blob { return []blob{img.layer, img.config, img.manifest} }

// testIndex is a two-platform image index.
type testIndex struct {
	images []*testImage
	index  blob
}

func newTestIndex(t *testing.T) *testIndex {
	t.Helper()
	idx := &testIndex{images: []*testImage{newTestImage(t, "amd64"), newTestImage(t, "arm64")}}
	m := manifestJSON{SchemaVersion: 2, MediaType: mtIndex}
	for _, img := range idx.images {
		d := img.manifest.desc(mtManifest)
		d.Platform = &platform{Architecture: img.arch, OS: "linux"}
		m.Manifests = append(m.Manifests, d)
	}
	idx.index = newBlob(mustJSON(t, m))
	return idx
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeLayout writes an OCI image layout at dir whose index.json has one entry,
// root (a manifest or an index), named tag; blobs are all blobs to store.
func writeLayout(t *testing.T, dir, tag string, root descriptor, blobs []blob) {
	t.Helper()
	blobDir := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		if err := os.WriteFile(filepath.Join(blobDir, b.hex()), b.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root.Annotations = map[string]string{refNameKey: tag}
	index := manifestJSON{SchemaVersion: 2, MediaType: mtIndex, Manifests: []descriptor{root}}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), mustJSON(t, index), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
}

// imageLayout writes img to a new OCI layout directory tagged tag and returns the directory.
func imageLayout(t *testing.T, img *testImage, tag string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	writeLayout(t, dir, tag, img.manifest.desc(mtManifest), img.blobs())
	return dir
}

// indexLayout writes idx to a new OCI layout directory tagged tag and returns the directory.
func indexLayout(t *testing.T, idx *testIndex, tag string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	var blobs []blob
	for _, img := range idx.images {
		blobs = append(blobs, img.blobs()...)
	}
	blobs = append(blobs, idx.index)
	writeLayout(t, dir, tag, idx.index.desc(mtIndex), blobs)
	return dir
}

// layoutManifestDigest reads the digest of the entry tagged tag (or the only
// entry, if tag is empty) from an OCI layout's index.json.
func layoutManifestDigest(t *testing.T, dir, tag string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatalf("reading pulled OCI layout: %v", err)
	}
	var idx manifestJSON
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("parsing %s/index.json: %v\n%s", dir, err, b)
	}
	for _, d := range idx.Manifests {
		if tag == "" && len(idx.Manifests) == 1 {
			return d.Digest
		}
		if n := d.Annotations[refNameKey]; tag != "" && (n == tag || strings.HasSuffix(n, ":"+tag)) {
			return d.Digest
		}
	}
	t.Fatalf("no entry for tag %q in %s/index.json:\n%s", tag, dir, b)
	return ""
}

// checkLayoutBlob checks that an OCI layout at dir holds b with identical bytes.
func checkLayoutBlob(t *testing.T, dir string, b blob, what string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", b.hex()))
	if err != nil {
		t.Fatalf("pulled OCI layout lacks the %s blob %s: %v", what, b.digest, err)
	}
	if !bytes.Equal(got, b.data) {
		t.Fatalf("pulled %s blob %s differs from what was pushed (%d bytes, want %d)", what, b.digest, len(got), len(b.data))
	}
}

// digestOf returns the sha256 digest of data.
func digestOf(data []byte) string { return newBlob(data).digest }

// expectEqual fails the test when got != want.
func expectEqual(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// expectBytes fails the test when got and want differ.
func expectBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: content differs (got %d bytes, digest %s; want %d bytes, digest %s)\ngot:  %.300s\nwant: %.300s",
			what, len(got), digestOf(got), len(want), digestOf(want), printable(string(got)), printable(string(want)))
	}
}

// lines splits command output into its non-empty trimmed lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// expectTags checks that the tag list has exactly want (in any order).
func expectTags(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	ok := len(got) == len(want)
	for _, w := range want {
		if !contains(got, w) {
			ok = false
		}
	}
	if !ok {
		hint := ""
		for _, g := range got {
			if strings.HasPrefix(g, "sha256-") {
				hint = "\n(sha256-<hex> tags come from the referrers tag-schema fallback: the client did not find a working referrers API, GET /v2/<name>/referrers/<digest>)"
			}
		}
		t.Fatalf("%s: got tags %q, want exactly %q%s", what, got, want, hint)
	}
}
