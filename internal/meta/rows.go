package meta

import (
	"encoding/json"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Rows is what the SQL stores' result sets have in common (database/sql and pgx).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanReferrers reads referrer descriptors from rows of
// (digest, media_type, size, artifact_type, annotations JSON), the shape both
// SQL stores select; the result is never nil.
func ScanReferrers(rows Rows) ([]ocispec.Descriptor, error) {
	out := []ocispec.Descriptor{}
	for rows.Next() {
		var desc ocispec.Descriptor
		var dg, ann string
		if err := rows.Scan(&dg, &desc.MediaType, &desc.Size, &desc.ArtifactType, &ann); err != nil {
			return nil, err
		}
		desc.Digest = digest.Digest(dg)
		if ann != "{}" {
			_ = json.Unmarshal([]byte(ann), &desc.Annotations)
		}
		out = append(out, desc)
	}
	return out, rows.Err()
}
