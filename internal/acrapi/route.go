package acrapi

import "strings"

// Kind is which /acr/v1/ endpoint a request is for.
type Kind int

const (
	KindInvalid    Kind = iota
	KindCatalog         // _catalog
	KindRepository      // {name}
	KindTags            // {name}/_tags
	KindTag             // {name}/_tags/{reference}
	KindManifests       // {name}/_manifests
	KindManifest        // {name}/_manifests/{digest}
)

var kindNames = [...]string{"invalid", "acr-catalog", "acr-repository", "acr-tags", "acr-tag", "acr-manifests", "acr-manifest"}

// String names the endpoint kind (for logs and metrics).
func (k Kind) String() string { return kindNames[k] }

// Route is a parsed /acr/v1/ path. Name is the repository as the client
// names it (in path style it begins with the registry); for the catalog it
// is the registry named in the path ("" when none is). Ref is the tag or
// digest.
type Route struct {
	Kind Kind
	Name string
	Ref  string
}

// ParseRoute parses the (decoded) path of an /acr/v1/ request. Repository
// path components never begin with "_", so the first segment that does is
// the endpoint; what follows is the reference (a tag may begin with "_").
// Names and references are not validated here.
func ParseRoute(path string) Route {
	rest, ok := strings.CutPrefix(path, "/acr/v1/")
	if !ok || rest == "" {
		return Route{}
	}
	segs := strings.Split(rest, "/")
	i := 0
	for i < len(segs) && !strings.HasPrefix(segs[i], "_") {
		i++
	}
	name := strings.Join(segs[:i], "/")
	if i == len(segs) {
		return Route{Kind: KindRepository, Name: name}
	}
	after := segs[i+1:]
	switch {
	case segs[i] == "_catalog" && len(after) == 0:
		return Route{Kind: KindCatalog, Name: name}
	case name == "":
		return Route{}
	case len(after) == 0 || len(after) == 1 && after[0] == "":
		switch segs[i] {
		case "_tags":
			return Route{Kind: KindTags, Name: name}
		case "_manifests":
			return Route{Kind: KindManifests, Name: name}
		}
	case len(after) == 1:
		switch segs[i] {
		case "_tags":
			return Route{Kind: KindTag, Name: name, Ref: after[0]}
		case "_manifests":
			return Route{Kind: KindManifest, Name: name, Ref: after[0]}
		}
	}
	return Route{}
}
