package mgmt

import (
	"net/http"
	"slices"
	"strings"

	"github.com/moat-registry/moat/internal/apiversion"
)

// checkAPIVersion refuses a request without an api-version, or with one the
// type has not published (types of namespaces moat does not serve are left
// to the handler, which answers 404).
func (h *Handler) checkAPIVersion(r *http.Request) error {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		return badRequest("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
	}
	key, name := apiversion.RequestType(r.URL.Path)
	t, ok := apiversion.Lookup(key)
	if !ok || slices.Contains(t.Versions, v) || slices.Contains(apiversion.Compat, v) {
		return nil
	}
	supported := apiversion.Supported(t.Versions)
	if t.ARM {
		return badRequest("InvalidApiVersionParameter", "The api-version '%s' is invalid. The supported versions are '%s'.", clipVersion(v), strings.Join(supported, ","))
	}
	return badRequest("NoRegisteredProviderFound",
		"No registered resource provider found for location '%s' and API version '%s' for type '%s'. The supported api-versions are '%s'. The supported locations are '%s'.",
		h.Location, clipVersion(v), name, strings.Join(supported, ", "), h.Location)
}

// clipVersion bounds a client-supplied version echoed in an error and keeps
// only printable ASCII.
func clipVersion(v string) string {
	var b strings.Builder
	for i, c := range v {
		if i >= 40 {
			b.WriteString("...")
			break
		}
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}
