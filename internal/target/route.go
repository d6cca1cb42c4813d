package target

import (
	"strings"
)

// Kind is which endpoint a request is for. Its String is the route label of
// metrics, logs and the audit.
type Kind int

const (
	// The distribution API, /v2/. KindInvalid is a /v2/ path with no endpoint.
	KindInvalid Kind = iota
	KindPing
	KindCatalog
	KindTags
	KindManifest
	KindBlob
	KindUploadStart // POST /blobs/uploads/
	KindUpload      // /blobs/uploads/<id>
	KindReferrers
	// ACR's data-plane API, /acr/v1/ (see acrRoute for the path forms).
	KindACRCatalog
	KindACRRepository
	KindACRTags
	KindACRTag
	KindACRManifests
	KindACRManifest
	KindACRInvalid
	// The registry token endpoints.
	KindToken    // /oauth2/token
	KindExchange // /oauth2/exchange
	// Everything else moat serves: no registry data plane.
	KindHealth
	KindManagement
	KindIdentity
	KindGraph
	KindOther
)

var kindNames = [...]string{"invalid", "ping", "catalog", "tags", "manifest", "blob", "upload-start", "upload", "referrers",
	"acr-catalog", "acr-repository", "acr-tags", "acr-tag", "acr-manifests", "acr-manifest", "acr-invalid",
	"token", "exchange", "health", "management", "identity", "graph", "other"}

// String names the endpoint kind.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Distribution reports whether k is an endpoint of /v2/.
func (k Kind) Distribution() bool { return k <= KindReferrers }

// ACR reports whether k is an endpoint of /acr/v1/.
func (k Kind) ACR() bool { return k >= KindACRCatalog && k <= KindACRInvalid }

// TokenEndpoint reports whether k is /oauth2/token or /oauth2/exchange.
func (k Kind) TokenEndpoint() bool { return k == KindToken || k == KindExchange }

// DataPlane reports whether requests of kind k pass the network gate.
func (k Kind) DataPlane() bool { return k <= KindExchange }

// Route is a parsed data-plane path. Name is the repository name as the client
// wrote it (in path style it begins with the registry name); Ref is the tag,
// digest or upload ID.
type Route struct {
	Kind Kind
	Name string
	Ref  string
}

// kindOf classifies a path outside /v2/ and /acr/v1/.
func kindOf(p string) Kind {
	switch {
	case p == "/oauth2/token":
		return KindToken
	case p == "/oauth2/exchange":
		return KindExchange
	case p == "/healthz" || p == "/readyz":
		return KindHealth
	case strings.HasPrefix(p, "/subscriptions"):
		return KindManagement
	case strings.HasPrefix(p, "/identity/") || strings.HasPrefix(p, "/oauth2/v2.0/"):
		return KindIdentity
	case strings.HasPrefix(p, "/graph/"):
		return KindGraph
	}
	return KindOther
}

// ParseRoute parses a request path. It does not validate names or
// references; it only finds the endpoint.
func ParseRoute(path string) Route {
	if path == "/v2" || strings.HasPrefix(path, "/v2/") {
		return parseV2(path)
	}
	if rest, ok := strings.CutPrefix(path, "/acr/v1/"); ok {
		return acrRoute(rest)
	}
	return Route{Kind: kindOf(path)}
}

// parseV2 parses the path of a /v2/ request. Repository names may contain the
// words "blobs" or "manifests", so endpoints are found from the right.
func parseV2(path string) Route {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return Route{Kind: KindPing} // "/v2"
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

// acrRoute parses the rest of an /acr/v1/ path, ACR's forms:
//
//	_catalog                       KindACRCatalog
//	{name}                         KindACRRepository
//	{name}/_tags[/[{tag}]]         KindACRTags, KindACRTag
//	{name}/_manifests[/[{digest}]] KindACRManifests, KindACRManifest
//
// Repository path components never begin with "_", so the first segment
// that does is the endpoint; what follows is the reference (a tag may begin
// with "_"). In path style, {name} begins with the registry, as in /v2/, and
// {registry}/_catalog lists one registry (see Target).
func acrRoute(rest string) Route {
	if rest == "" {
		return Route{Kind: KindACRInvalid}
	}
	segs := strings.Split(rest, "/")
	i := 0
	for i < len(segs) && !strings.HasPrefix(segs[i], "_") {
		i++
	}
	name := strings.Join(segs[:i], "/")
	if i == len(segs) {
		return Route{Kind: KindACRRepository, Name: name}
	}
	after := segs[i+1:]
	switch {
	case segs[i] == "_catalog" && len(after) == 0:
		return Route{Kind: KindACRCatalog, Name: name}
	case name == "":
	case len(after) == 0 || len(after) == 1 && after[0] == "":
		switch segs[i] {
		case "_tags":
			return Route{Kind: KindACRTags, Name: name}
		case "_manifests":
			return Route{Kind: KindACRManifests, Name: name}
		}
	case len(after) == 1:
		switch segs[i] {
		case "_tags":
			return Route{Kind: KindACRTag, Name: name, Ref: after[0]}
		case "_manifests":
			return Route{Kind: KindACRManifest, Name: name, Ref: after[0]}
		}
	}
	return Route{Kind: KindACRInvalid}
}
