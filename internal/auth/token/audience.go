package token

import "strings"

// ARMAudiences are the cloud's well-known Azure Resource Manager audiences,
// which az and the Azure SDK ask for by default.
var ARMAudiences = []string{"https://management.core.windows.net/", "https://management.azure.com/"}

// ACRAudience is the audience the Azure Container Registry client libraries
// ask for by default (<audience>/.default). ACR's /oauth2/exchange takes it
// beside the management audiences; the management API does not.
const ACRAudience = "https://containerregistry.azure.net"

// AllowsRegistry reports whether an identity token with these audiences may
// be exchanged for a registry refresh token: a management audience or
// ACRAudience.
func (a Audiences) AllowsRegistry(aud []string) bool {
	for _, s := range aud {
		if normalAudience(s) == normalAudience(ACRAudience) {
			return true
		}
	}
	return a.Allows(aud)
}

// Audiences is the fixed set of audiences the management API (and
// /oauth2/exchange) accepts in identity tokens: the server's public URL and
// the ARM audiences. It comes from the configuration, never from a request:
// a token the authority minted for another application is refused whatever
// Host header comes with it.
type Audiences struct {
	primary string
	set     map[string]bool
}

// NewAudiences is the set of publicURL (e.g. https://moat.example.com:8443)
// and ARMAudiences.
func NewAudiences(publicURL string) Audiences {
	a := Audiences{primary: strings.TrimRight(publicURL, "/") + "/", set: map[string]bool{}}
	for _, s := range append([]string{a.primary}, ARMAudiences...) {
		a.set[normalAudience(s)] = true
	}
	return a
}

// normalAudience compares audiences case-insensitively, with or without a
// trailing slash (az asks for "<resource>/.default" of a resource that ends
// in "/").
func normalAudience(s string) string { return strings.TrimRight(strings.ToLower(s), "/") }

// Allows reports whether one of a token's audiences is in the set.
func (a Audiences) Allows(aud []string) bool {
	for _, s := range aud {
		if a.set[normalAudience(s)] {
			return true
		}
	}
	return false
}

// List is the set, the public URL first (what /metadata/endpoints reports
// as authentication.audiences, whose first entry clients ask tokens for).
func (a Audiences) List() []string {
	return append([]string{a.primary}, ARMAudiences...)
}
