package oci

import (
	"strings"
)

// Kind is which distribution API endpoint a request is for.
type Kind int

const (
	KindInvalid Kind = iota
	KindPing
	KindCatalog
	KindTags
	KindManifest
	KindBlob
	KindUploadStart // POST /blobs/uploads/
	KindUpload      // /blobs/uploads/<id>
	KindReferrers
)

// Route is a parsed /v2/ path. Name is the repository name as the client wrote
// it (in path style it begins with the registry name); Ref is the tag, digest or
// upload ID.
type Route struct {
	Kind Kind
	Name string
	Ref  string
}

// ParseRoute parses the path of a /v2/ request. It does not validate names or
// references; it only finds the endpoint. Repository names may contain the
// words "blobs" or "manifests", so endpoints are found from the right.
func ParseRoute(path string) Route {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return Route{Kind: KindPing}
		}
		return Route{}
	}
	switch rest {
	case "":
		return Route{Kind: KindPing}
	case "_catalog":
		return Route{Kind: KindCatalog}
	}
	if name, ok := strings.CutSuffix(rest, "/tags/list"); ok {
		return Route{Kind: KindTags, Name: name}
	}
	if name, ok := strings.CutSuffix(rest, "/_catalog"); ok {
		return Route{Kind: KindCatalog, Name: name}
	}
	if name, ok := strings.CutSuffix(rest, "/blobs/uploads/"); ok {
		return Route{Kind: KindUploadStart, Name: name}
	}
	if name, ok := strings.CutSuffix(rest, "/blobs/uploads"); ok {
		return Route{Kind: KindUploadStart, Name: name}
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return Route{}
	}
	ref := rest[i+1:]
	head := rest[:i]
	if name, ok := strings.CutSuffix(head, "/blobs/uploads"); ok && ref != "" {
		return Route{Kind: KindUpload, Name: name, Ref: ref}
	}
	j := strings.LastIndexByte(head, '/')
	if j < 0 || ref == "" {
		return Route{}
	}
	name := head[:j]
	switch head[j+1:] {
	case "manifests":
		return Route{Kind: KindManifest, Name: name, Ref: ref}
	case "blobs":
		return Route{Kind: KindBlob, Name: name, Ref: ref}
	case "referrers":
		return Route{Kind: KindReferrers, Name: name, Ref: ref}
	}
	return Route{}
}

var kindNames = [...]string{"invalid", "ping", "catalog", "tags", "manifest", "blob", "upload-start", "upload", "referrers"}

// String names the endpoint kind (for logs, audit and metrics).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}
