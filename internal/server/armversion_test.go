package server

import (
	"net/url"

	"github.com/moat-registry/moat/internal/apiversion"
)

// armVersion is the api-version query of a management request to u (a URL
// or a path), as moat's own clients send it: one whose shape of the type has
// every member moat serves (registries: virtual-network rules).
func armVersion(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "api-version=" + apiversion.ForClient(u)
	}
	return "api-version=" + apiversion.ForClient(p.Path)
}
