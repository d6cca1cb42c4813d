package meta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// Attributes are ACR's changeable attributes of a repository, a tag or a
// manifest: what may be done to it. New content has every one true.
type Attributes struct {
	DeleteEnabled bool
	WriteEnabled  bool
	ListEnabled   bool
	ReadEnabled   bool
}

// Unlocked is the attributes of new content.
var Unlocked = Attributes{DeleteEnabled: true, WriteEnabled: true, ListEnabled: true, ReadEnabled: true}

// Deletable reports whether the attributes allow a delete: ACR refuses one
// when either deleteEnabled or writeEnabled is false.
func (a Attributes) Deletable() bool { return a.DeleteEnabled && a.WriteEnabled }

// AttributesPatch changes the attributes that are not nil (a PATCH body).
type AttributesPatch struct {
	DeleteEnabled *bool
	WriteEnabled  *bool
	ListEnabled   *bool
	ReadEnabled   *bool
}

// Apply returns a with the patch's values.
func (p AttributesPatch) Apply(a Attributes) Attributes {
	for _, f := range []struct {
		v   *bool
		dst *bool
	}{{p.DeleteEnabled, &a.DeleteEnabled}, {p.WriteEnabled, &a.WriteEnabled}, {p.ListEnabled, &a.ListEnabled}, {p.ReadEnabled, &a.ReadEnabled}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	return a
}

// ErrLocked: an attribute refuses the operation (errors.Is matches every
// *LockedError).
var ErrLocked = errors.New("meta: refused by a changeable attribute")

// LockedError names the attribute that refused an operation.
type LockedError struct {
	Registry   string // the registry key
	Repository string
	Kind       string // KindRepository, KindTag or KindManifest
	Name       string // the repository name, the tag or the digest
	Attribute  string // "writeEnabled", "deleteEnabled" or "readEnabled"
}

// What a LockedError names.
const (
	KindRepository = "repository"
	KindTag        = "tag"
	KindManifest   = "manifest"
)

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s %s has %s false", e.Kind, e.Name, e.Attribute)
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Unlock is the command that lifts the lock.
func (e *LockedError) Unlock() string {
	target := "--repository " + e.Repository
	switch e.Kind {
	case KindTag:
		target = "--image " + e.Repository + ":" + e.Name
	case KindManifest:
		target = "--image " + e.Repository + "@" + e.Name
	}
	flag := map[string]string{"writeEnabled": "--write-enabled", "deleteEnabled": "--delete-enabled", "readEnabled": "--read-enabled"}[e.Attribute]
	return "moat acr repository update --name " + e.Registry + " " + target + " " + flag + " true"
}

// Place records where a LockedError happened (the stores call it).
func Place(err error, reg, repo string) error {
	var le *LockedError
	if errors.As(err, &le) {
		le.Registry, le.Repository = reg, repo
	}
	return err
}

// Locked returns the LockedError for content named name whose attributes a
// refuse a write (write true) or a delete (write false), else nil.
func Locked(kind, name string, a Attributes, write bool) error {
	switch {
	case !a.WriteEnabled:
		return &LockedError{Kind: kind, Name: name, Attribute: "writeEnabled"}
	case !write && !a.DeleteEnabled:
		return &LockedError{Kind: kind, Name: name, Attribute: "deleteEnabled"}
	}
	return nil
}

// RepositoryInfo is a repository's properties (ACR's RepositoryAttributes).
type RepositoryInfo struct {
	Name          string
	Created       time.Time
	Updated       time.Time
	ManifestCount int
	TagCount      int
	Attributes
}

// TagInfo is a tag's properties (ACR's TagAttributesBase).
type TagInfo struct {
	Name    string
	Digest  digest.Digest
	Created time.Time
	Updated time.Time
	Attributes
}

// Platform is the architecture and operating system of an image.
type Platform struct {
	Digest       digest.Digest `json:"digest,omitempty"`
	Architecture string        `json:"architecture,omitempty"`
	OS           string        `json:"os,omitempty"`
}

// ManifestInfo is a manifest's properties (ACR's ManifestAttributesBase).
type ManifestInfo struct {
	Digest          digest.Digest
	MediaType       string
	ConfigMediaType string
	Size            int64
	Architecture    string
	OS              string
	// References are the platforms an index lists.
	References []Platform
	Tags       []string
	Created    time.Time
	Updated    time.Time
	Attributes
}

// DeletedRepository is what DeleteRepository removed.
type DeletedRepository struct {
	Manifests []string
	Tags      []string
}

// Order is the order of a listing.
type Order int

const (
	ByName     Order = iota // tags by name, manifests by digest
	ByTimeDesc              // most recently updated first
	ByTimeAsc               // least recently updated first
)

// Page selects one page of a keyset-paginated listing: up to N items after
// the item (AfterTime, After) in the listing's order (AfterTime only counts
// when ordered by time; After "" starts at the beginning). Only listable
// items (ListEnabled) are listed.
type Page struct {
	N         int
	Order     Order
	After     string
	AfterTime time.Time
	// Digest, when set, lists only the tags that point at it.
	Digest digest.Digest
}

// Properties is ACR's view of content (the /acr/v1/ API): properties and
// changeable attributes of repositories, tags and manifests. The writes of
// Manifests and BlobLinks honour the attributes in their own transaction
// (ErrLocked), and so do GetManifest and ResolveTag (readEnabled):
//
//   - a repository with writeEnabled false takes no push, no tag change and
//     no delete of anything in it; with deleteEnabled false it cannot be
//     deleted (its images can);
//   - a tag with writeEnabled false cannot be pushed (moved); a tag or
//     manifest with deleteEnabled or writeEnabled false cannot be deleted,
//     nor can the manifest a locked tag points at;
//   - a manifest with writeEnabled false cannot be pushed again, so no tag
//     can be moved onto it;
//   - readEnabled false on a repository, tag or manifest refuses pulls;
//     listEnabled false hides it from listings.
type Properties interface {
	RepositoryProperties(ctx context.Context, reg, repo string) (*RepositoryInfo, error)
	// RepositoryAttributes returns only the attributes (cheap; ErrNotFound
	// for a repository that does not exist).
	RepositoryAttributes(ctx context.Context, reg, repo string) (Attributes, error)
	SetRepositoryAttributes(ctx context.Context, reg, repo string, p AttributesPatch) (*RepositoryInfo, error)
	// DeleteRepository removes the repository with its manifests, tags and
	// blob links, unless it or anything in it is locked (ErrLocked).
	DeleteRepository(ctx context.Context, reg, repo string) (*DeletedRepository, error)
	// ListedRepositories returns up to n listable repositories after last, by name.
	ListedRepositories(ctx context.Context, reg, last string, n int) ([]string, error)

	TagProperties(ctx context.Context, reg, repo, tag string) (*TagInfo, error)
	SetTagAttributes(ctx context.Context, reg, repo, tag string, p AttributesPatch) (*TagInfo, error)
	ListTagProperties(ctx context.Context, reg, repo string, p Page) ([]*TagInfo, error)

	ManifestProperties(ctx context.Context, reg, repo string, d digest.Digest) (*ManifestInfo, error)
	SetManifestAttributes(ctx context.Context, reg, repo string, d digest.Digest, p AttributesPatch) (*ManifestInfo, error)
	ListManifestProperties(ctx context.Context, reg, repo string, p Page) ([]*ManifestInfo, error)
}

// Unreadable returns the LockedError of a manifest that may not be pulled
// because its repository's readEnabled or its own is false, else nil.
func Unreadable(reg, repo string, repoReadable bool, d digest.Digest, readable bool) error {
	switch {
	case !repoReadable:
		return &LockedError{reg, repo, KindRepository, repo, "readEnabled"}
	case !readable:
		return &LockedError{reg, repo, KindManifest, d.String(), "readEnabled"}
	}
	return nil
}

// UnreadableTag is the LockedError of a tag whose readEnabled is false.
func UnreadableTag(reg, repo, tag string) error {
	return &LockedError{reg, repo, KindTag, tag, "readEnabled"}
}
