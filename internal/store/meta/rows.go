package meta

import (
	"time"

	"encoding/json"

	"github.com/google/uuid"
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

// ScanStrings reads one text column; the result is never nil.
func ScanStrings(rows Rows) ([]string, error) {
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ScanUploads reads rows of (id, reg, repo, created_at nanoseconds).
func ScanUploads(rows Rows) ([]*Upload, error) {
	var out []*Upload
	for rows.Next() {
		var u Upload
		var at int64
		if err := rows.Scan(&u.ID, &u.Registry, &u.Repository, &at); err != nil {
			return nil, err
		}
		u.CreatedAt = time.Unix(0, at).UTC()
		out = append(out, &u)
	}
	return out, rows.Err()
}

// StoredManifestCols are the columns ScanStoredManifests reads.
const StoredManifestCols = `digest, media_type, content, subject, created_at, NOT (delete_enabled AND write_enabled)`

// ScanStoredManifests reads rows of StoredManifestCols into c.Manifests.
func (c *RepositoryContent) ScanStoredManifests(rows Rows) error {
	for rows.Next() {
		var m StoredManifest
		var d, subject string
		var at int64
		if err := rows.Scan(&d, &m.MediaType, &m.Content, &subject, &at, &m.Locked); err != nil {
			return err
		}
		m.Digest, m.Subject, m.Pushed = digest.Digest(d), digest.Digest(subject), time.Unix(0, at)
		c.Manifests = append(c.Manifests, &m)
	}
	return rows.Err()
}

// ScanTagged reads rows of one digest column into c.Tagged.
func (c *RepositoryContent) ScanTagged(rows Rows) error {
	ds, err := ScanStrings(rows)
	for _, d := range ds {
		c.Tagged[digest.Digest(d)] = true
	}
	return err
}

// ScanLinks reads rows of (digest, size, created_at nanoseconds) into c.Links.
func (c *RepositoryContent) ScanLinks(rows Rows) error {
	for rows.Next() {
		var l Link
		var d string
		var at int64
		if err := rows.Scan(&d, &l.Size, &at); err != nil {
			return err
		}
		l.Digest, l.Linked = digest.Digest(d), time.Unix(0, at)
		c.Links = append(c.Links, l)
	}
	return rows.Err()
}

// Digests converts strings to digests.
func Digests(ss []string) []digest.Digest {
	out := make([]digest.Digest, len(ss))
	for i, s := range ss {
		out[i] = digest.Digest(s)
	}
	return out
}

// ContentTables hold a registry's content, each with a reg column: deleting a
// registry deletes its rows in all of them.
var ContentTables = []string{"repositories", "manifests", "tags", "blobs", "uploads", "gc_removed"}

// RegistryCols are the registries table's columns in the order ScanRegistry reads.
const RegistryCols = `key, name, subscription, resource_group, location, sku, properties, created_at, version, uid`

// ScanRegistry reads one row of RegistryCols.
func ScanRegistry(sc interface{ Scan(...any) error }) (*Registry, error) {
	var r Registry
	var created int64
	var props []byte
	if err := sc.Scan(&r.Key, &r.Name, &r.Subscription, &r.ResourceGroup, &r.Location, &r.SKU, &props, &created, &r.Version, &r.UID); err != nil {
		return nil, err
	}
	r.Properties = props
	r.CreatedAt = time.Unix(0, created).UTC()
	return &r, nil
}

// NewUID gives r an immutable identity unless it has one (CreateRegistry).
func (r *Registry) NewUID() {
	if r.UID == "" {
		r.UID = uuid.NewString()
	}
}

// ScanRegistries reads rows of RegistryCols.
func ScanRegistries(rows Rows) ([]*Registry, error) {
	var out []*Registry
	for rows.Next() {
		r, err := ScanRegistry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
