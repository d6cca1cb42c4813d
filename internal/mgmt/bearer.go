package mgmt

import (
	"net/http"
	"strings"
	"sync"

	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/token"
)

// BearerAuth authenticates management callers by identity-service tokens
// (what 'moat login', azidentity and the Azure SDK send).
type BearerAuth struct {
	Keys   *token.Keys
	Dir    *identity.Directory
	Tenant string
	// Audiences are the audiences accepted (the configured public URL and
	// the ARM audiences), never derived from the request.
	Audiences token.Audiences
	cache     sync.Map // raw token -> *token.IdentityClaims
	size      int
	mu        sync.Mutex
}

func unauthenticated(msg string) error {
	return armErr(http.StatusUnauthorized, "AuthenticationFailed", "%s", msg)
}

// Principal verifies the bearer token and returns the caller's object ID.
func (b *BearerAuth) Principal(r *http.Request) (string, error) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return "", unauthenticated("authentication required: sign in with 'moat login' (or send an identity token as Authorization: Bearer)")
	}
	c, ok := b.verify(raw)
	if !ok {
		return "", unauthenticated("the access token is invalid or expired; sign in again with 'moat login'")
	}
	if aud, _ := c.GetAudience(); !b.Audiences.Allows(aud) {
		return "", unauthenticated("the access token is not for this management API (its audience is " + strings.Join(aud, ",") +
			"); request a token for " + strings.Join(b.Audiences.List(), " or ") + " (moat login does)")
	}
	if p, ok := b.Dir.Get(c.ObjectID); !ok || p.Disabled {
		return "", unauthenticated("the principal of this token no longer exists or is disabled")
	}
	return c.ObjectID, nil
}

func (b *BearerAuth) verify(raw string) (*token.IdentityClaims, bool) {
	if v, ok := b.cache.Load(raw); ok {
		c := v.(*token.IdentityClaims)
		return c, c.ExpiresAt.After(b.Keys.Now())
	}
	var c token.IdentityClaims
	if err := b.Keys.Verify(raw, &c); err != nil || c.Kind != token.KindIdentity || c.TenantID != b.Tenant || c.ObjectID == "" || c.ExpiresAt == nil {
		return nil, false
	}
	b.mu.Lock()
	if b.size++; b.size > 10000 {
		b.cache.Clear()
		b.size = 0
	}
	b.mu.Unlock()
	b.cache.Store(raw, &c)
	return &c, true
}

// Metadata serves /metadata/endpoints: where to sign in, unauthenticated, as
// ARM does, so that a CLI given only the server URL can find the authority.
// One document carries the keys of every version: the old ones that
// `az cloud register` reads (?api-version=2015-01-01: graphEndpoint,
// authentication) and the current ones (resourceManager, suffixes, ...).
// 2019-05-01 and 2020-06-01 answer a list of clouds, as ARM does.
// The authority is the ADFS-shaped one (authority/adfs.go): MSAL, inside az,
// trusts it without asking login.microsoftonline.com.
func (h *Handler) Metadata(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	base := scheme + "://" + r.Host
	audiences := h.Audiences
	if len(audiences) == 0 {
		audiences = []string{base + "/"}
	}
	graph := base + "/graph/"
	doc := map[string]any{
		"name":                     "moat",
		"resourceManager":          base + "/",
		"portal":                   base + "/portal/",
		"portalEndpoint":           base + "/portal/",
		"graph":                    graph,
		"graphEndpoint":            graph,
		"graphAudience":            graph,
		"microsoftGraphResourceId": graph,
		"authentication": map[string]any{
			"loginEndpoint":    base + "/adfs",
			"audiences":        audiences,
			"tenant":           h.Tenant,
			"identityProvider": "ADFS",
		},
		"suffixes": map[string]any{"acrLoginServer": h.loginServerSuffix()},
	}
	switch r.URL.Query().Get("api-version") {
	case "2019-05-01", "2020-06-01":
		writeJSON(w, http.StatusOK, []any{doc})
	default:
		writeJSON(w, http.StatusOK, doc)
	}
}

// loginServerSuffix is what follows "<registry>." in a host-style login server.
func (h *Handler) loginServerSuffix() string {
	if h.LoginServerSuffix != nil {
		return h.LoginServerSuffix()
	}
	return h.ZoneSuffix
}
