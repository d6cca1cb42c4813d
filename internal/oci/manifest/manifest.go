// Package manifest parses and checks pushed manifests: OCI image manifests and
// indexes, and their Docker schema 2 equivalents. It reads only what the
// registry needs: references to check, and subject / artifactType / annotations
// for the referrers API.
package manifest

import (
	"encoding/json"
	"fmt"
	"mime"

	"github.com/moat-registry/moat/internal/oci/names"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types moat stores.
const (
	OCIManifest    = ocispec.MediaTypeImageManifest
	OCIIndex       = ocispec.MediaTypeImageIndex
	DockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	DockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// MaxSize is the largest manifest accepted (4 MiB, as the OCI spec suggests).
const MaxSize = 4 << 20

// Parsed is what the registry needs from a manifest.
type Parsed struct {
	MediaType    string
	Subject      *ocispec.Descriptor
	ArtifactType string
	Annotations  map[string]string
	// Blobs are the config and layers of an image manifest.
	Blobs []ocispec.Descriptor
	// Manifests are the children of an index.
	Manifests []ocispec.Descriptor
}

// IsIndex reports whether the manifest lists other manifests.
func (p *Parsed) IsIndex() bool { return p.MediaType == OCIIndex || p.MediaType == DockerList }

// raw is the union of the fields of all four supported shapes.
type raw struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// Error is a manifest the registry refuses; its message says what is wrong.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func invalid(format string, args ...any) error { return &Error{fmt.Sprintf(format, args...)} }

// Parse checks body against the Content-Type it was pushed with.
func Parse(contentType string, body []byte) (*Parsed, error) {
	if len(body) > MaxSize {
		return nil, invalid("manifest is %d bytes; the limit is %d bytes (4 MiB)", len(body), MaxSize)
	}
	var m raw
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, invalid("manifest is not valid JSON: %v", err)
	}
	if m.SchemaVersion == nil || *m.SchemaVersion != 2 {
		return nil, invalid("manifest schemaVersion must be 2 (Docker schema 1 is not supported; push with a current client)")
	}
	ct := ""
	if contentType != "" {
		if t, _, err := mime.ParseMediaType(contentType); err == nil {
			ct = t
		} else {
			return nil, invalid("Content-Type %q cannot be parsed", contentType)
		}
	}
	mt := m.MediaType
	switch {
	case mt == "" && ct == "":
		mt = guess(&m)
	case mt == "":
		mt = ct
	case ct != "" && ct != mt:
		return nil, invalid("Content-Type %q does not match the manifest's mediaType %q", ct, mt)
	}
	p := &Parsed{MediaType: mt, Subject: m.Subject, ArtifactType: m.ArtifactType, Annotations: m.Annotations}
	switch mt {
	case OCIManifest, DockerManifest:
		if m.Config == nil {
			return nil, invalid("image manifest has no config descriptor")
		}
		if m.Manifests != nil {
			return nil, invalid("image manifest must not have a manifests field")
		}
		if p.ArtifactType == "" && mt == OCIManifest {
			// OCI: the referrers API reports the config media type then.
			p.ArtifactType = m.Config.MediaType
		}
		p.Blobs = append([]ocispec.Descriptor{*m.Config}, m.Layers...)
	case OCIIndex, DockerList:
		if m.Config != nil || m.Layers != nil {
			return nil, invalid("image index must not have config or layers fields")
		}
		p.Manifests = m.Manifests
	default:
		return nil, invalid("unsupported manifest media type %q: push an OCI image manifest or index, or a Docker schema 2 manifest or list", mt)
	}
	for _, d := range append(append([]ocispec.Descriptor{}, p.Blobs...), p.Manifests...) {
		if err := checkDescriptor(d); err != nil {
			return nil, err
		}
	}
	if p.Subject != nil {
		if err := checkDescriptor(*p.Subject); err != nil {
			return nil, invalid("subject: %v", err)
		}
	}
	return p, nil
}

func checkDescriptor(d ocispec.Descriptor) error {
	if _, ok := names.ParseDigest(string(d.Digest)); !ok {
		return invalid("descriptor digest %q is not a valid sha256 or sha512 digest", d.Digest)
	}
	if d.Size < 0 {
		return invalid("descriptor %s has a negative size", d.Digest)
	}
	if d.Data != nil && (int64(len(d.Data)) != d.Size || d.Digest.Algorithm().FromBytes(d.Data) != d.Digest) {
		return invalid("descriptor %s has a data field that does not match its digest and size", d.Digest)
	}
	return nil
}

func guess(m *raw) string {
	if m.Manifests != nil {
		return OCIIndex
	}
	return OCIManifest
}
