// Package meta defines the metadata store: registries and their content
// (repositories, manifests, tags, blob links, referrers) and upload sessions.
// Every content call names its registry, so two registries never see each
// other's rows.
package meta

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	ErrNotFound = errors.New("meta: not found")
	ErrExists   = errors.New("meta: already exists")
	// ErrConflict: an update was based on an outdated version (ETag mismatch).
	ErrConflict = errors.New("meta: version conflict")
)

// Store is the whole metadata store. A store's failures other than its
// sentinel errors are classified by package store; Instrument wraps a store
// to count them and mark those of an unreachable backend.
type Store interface {
	Registries
	Manifests
	BlobLinks
	Uploads
	Settings
	Resources
	GC
	Properties
	AuditTrail
	Close() error
}

// Resource is a management-plane resource other than a registry (resource
// groups, provider registrations, virtual networks, private endpoints,
// private endpoint connections): its ARM ID and its JSON document.
type Resource struct {
	// ID is the resource ID as created; lookups compare it case-insensitively.
	ID   string
	Type string // e.g. Microsoft.Network/virtualNetworks
	Body json.RawMessage
	// Version increases on every update; it is the resource's ETag.
	Version int64
}

type Resources interface {
	// PutResource creates r (Version 0) or updates it if the stored version is
	// still r.Version (ErrConflict otherwise; ErrExists if created concurrently).
	// r.Version is the new version afterwards.
	PutResource(ctx context.Context, r *Resource) error
	GetResource(ctx context.Context, id string) (*Resource, error)
	// ListResources lists resources of a type whose ID starts with prefix (case-insensitive).
	ListResources(ctx context.Context, typ, prefix string) ([]*Resource, error)
	// DeleteResource deletes the resource and every resource below it (IDs under id + "/").
	DeleteResource(ctx context.Context, id string) error
}

// Settings holds server-wide values fixed at first start (tenant and subscription IDs).
type Settings interface {
	// InitSetting stores value under key unless the key exists, and returns the stored value.
	InitSetting(ctx context.Context, key, value string) (string, error)
}

// Registry is a registry resource. Key is the lower-cased name; Properties
// holds the ARM properties owned by the management plane.
type Registry struct {
	Key string
	// UID is the registry's immutable identity, a GUID given at creation
	// (CreateRegistry makes one when it is empty): a registry deleted and
	// created again under the same name has another, and tokens, audit
	// events and caches are keyed on it so that the new one inherits nothing.
	UID           string
	Name          string
	Subscription  string
	ResourceGroup string
	Location      string
	SKU           string
	Properties    json.RawMessage
	CreatedAt     time.Time
	// Version increases on every update; it is the resource's ETag.
	Version int64
}

type Registries interface {
	CreateRegistry(ctx context.Context, r *Registry) error
	GetRegistry(ctx context.Context, key string) (*Registry, error)
	// UpdateRegistry stores r if the stored version is still r.Version, then bumps r.Version.
	UpdateRegistry(ctx context.Context, r *Registry) error
	// DeleteRegistry removes the registry and all its content.
	DeleteRegistry(ctx context.Context, key string) error
	ListRegistries(ctx context.Context) ([]*Registry, error)
}

// Manifest is a stored manifest of one repository.
type Manifest struct {
	Digest    digest.Digest
	MediaType string
	Content   []byte
	// Subject, ArtifactType and Annotations feed the referrers API.
	Subject      digest.Digest
	ArtifactType string
	Annotations  map[string]string
	// Refs are the digests the manifest references (config, layers, an
	// index's children; not its subject). PutManifest refuses the manifest
	// (ErrReferenceRemoved) if garbage collection removed one of them from the
	// repository and it was not pushed or linked again since.
	Refs []digest.Digest
	// Props are what ACR's API shows of it (Properties), found at push; nil
	// when not known (the size is then the manifest's). A pointer: the
	// manifest is copied on every cached read.
	Props *ManifestProps
}

// ManifestProps are a manifest's properties that ACR's API shows: the
// config's media type, the size of the image (see docs/registry.md), the
// platform of an image and the platforms an index lists.
type ManifestProps struct {
	ConfigMediaType string
	ImageSize       int64
	Platform        Platform
	References      []Platform
}

// Descriptor returns the manifest's descriptor as the referrers API lists it.
func (m *Manifest) Descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:    m.MediaType,
		Digest:       m.Digest,
		Size:         int64(len(m.Content)),
		ArtifactType: m.ArtifactType,
		Annotations:  m.Annotations,
	}
}

type Manifests interface {
	// PutManifest stores m in the repository (creating it) and points tags
	// at it, unless a lock refuses it (ErrLocked, see Properties).
	PutManifest(ctx context.Context, reg, repo string, m *Manifest, tags ...string) error
	// GetManifest and ResolveTag refuse what may not be read (ErrLocked).
	GetManifest(ctx context.Context, reg, repo string, d digest.Digest) (*Manifest, error)
	ResolveTag(ctx context.Context, reg, repo, tag string) (digest.Digest, error)
	// DeleteManifest removes the manifest and every tag pointing at it,
	// unless a lock refuses it (ErrLocked).
	DeleteManifest(ctx context.Context, reg, repo string, d digest.Digest) error
	DeleteTag(ctx context.Context, reg, repo, tag string) error
	// ListTags returns up to n listable tags after last, in lexical order (n < 0: all).
	ListTags(ctx context.Context, reg, repo, last string, n int) ([]string, error)
	// ListRepositories returns up to n repositories after last, in lexical order.
	ListRepositories(ctx context.Context, reg, last string, n int) ([]string, error)
	// Referrers lists manifests whose subject is d, optionally of one artifact type.
	Referrers(ctx context.Context, reg, repo string, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error)
	// RepositoryExists reports whether the repository has any content.
	RepositoryExists(ctx context.Context, reg, repo string) (bool, error)
}

// BlobLinks records which repositories may serve which blobs.
type BlobLinks interface {
	// LinkBlob links d into the repository, or returns ErrBlobDeleting (or
	// ErrLocked: the repository takes no writes).
	LinkBlob(ctx context.Context, reg, repo string, d digest.Digest, size int64) error
	// BlobSize returns the size of a blob linked into the repository.
	BlobSize(ctx context.Context, reg, repo string, d digest.Digest) (int64, error)
	// FindBlob returns the size of a blob linked anywhere in the registry.
	FindBlob(ctx context.Context, reg string, d digest.Digest) (int64, error)
	// UnlinkBlob removes a link, unless the repository takes no writes (ErrLocked).
	UnlinkBlob(ctx context.Context, reg, repo string, d digest.Digest) error
}

// Upload is an upload session: which registry and repository an upload ID belongs to.
type Upload struct {
	ID         string
	Registry   string
	Repository string
	CreatedAt  time.Time
}

type Uploads interface {
	CreateUpload(ctx context.Context, u *Upload) error
	GetUpload(ctx context.Context, id string) (*Upload, error)
	DeleteUpload(ctx context.Context, id string) error
	// CountUploads is the number of open upload sessions of a registry.
	CountUploads(ctx context.Context, registry string) (int, error)
}
