package oci

import (
	"context"
	"encoding/json"
	"io"
	"math"

	"github.com/moat-registry/moat/internal/oci/manifest"
	"github.com/moat-registry/moat/internal/store/meta"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxConfigRead bounds the config blob read for an image's platform.
const maxConfigRead = 1 << 20

// imageConfigTypes are the config media types that carry a platform.
var imageConfigTypes = map[string]bool{
	ocispec.MediaTypeImageConfig:                     true,
	"application/vnd.docker.container.image.v1+json": true,
}

// describe fills in what ACR's API shows of a pushed manifest
// (docs/registry.md): the config's media type, the image size (the manifest
// and what it references directly: config and layers, or the listed
// manifests), the platforms an index lists, and an image's platform, read
// from its config blob when that is linked into the repository and small.
func (h *Handler) describe(ctx context.Context, t target, p *manifest.Parsed, size int) *meta.ManifestProps {
	m := &meta.ManifestProps{ImageSize: int64(size)}
	for _, d := range append(p.Blobs, p.Manifests...) {
		m.ImageSize = addSize(m.ImageSize, d.Size)
	}
	for _, d := range p.Manifests {
		ref := meta.Platform{Digest: d.Digest}
		if d.Platform != nil {
			ref.Architecture, ref.OS = d.Platform.Architecture, d.Platform.OS
		}
		m.References = append(m.References, ref)
	}
	if len(p.Blobs) == 0 {
		return m
	}
	cfg := p.Blobs[0]
	m.ConfigMediaType = cfg.MediaType
	if !imageConfigTypes[cfg.MediaType] || cfg.Size > maxConfigRead {
		return m
	}
	if _, err := h.Meta.BlobSize(ctx, t.reg.Key, t.repo, cfg.Digest); err != nil {
		return m // not pushed (a sparse copy), or not this repository's to read
	}
	f, err := h.Blobs.Open(ctx, cfg.Digest)
	if err != nil {
		return m
	}
	defer f.Close()
	var c struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	}
	if json.NewDecoder(io.LimitReader(f, maxConfigRead)).Decode(&c) == nil {
		m.Platform = meta.Platform{Architecture: c.Architecture, OS: c.OS}
	}
	return m
}

// addSize adds without overflowing: descriptor sizes are the client's word.
func addSize(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}
