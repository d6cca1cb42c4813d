package authority

import "net/http"

// The authority served a second time, shaped like AD FS (Active Directory
// Federation Services, the authority of disconnected Azure Stack Hub), for
// the Azure CLI.
//
// MSAL for Python, inside az, asks login.microsoftonline.com to vouch for
// any authority it does not know (instance discovery), which fails for a
// self-hosted server, and fails outright offline. It skips that check for
// an authority whose first path segment is "adfs": az signs in there when
// the cloud's active directory endpoint ends with /adfs, which is what
// /metadata/endpoints advertises (mgmt.Handler.Metadata). MSAL then reads
// /adfs/.well-known/openid-configuration (no /v2.0: ADFS's discovery path)
// and posts to the token endpoint it names.
//
// ADFS has no tenant in its paths: these routes are the server's one tenant.
// The documents, tokens and issuer are those of /identity/{tenant}: one
// token service, one issuer, two roots.
func (h *Handler) registerADFS(m *http.ServeMux) {
	m.HandleFunc("/adfs/.well-known/openid-configuration", h.homeTenant(h.adfsDiscovery))
	m.HandleFunc("/adfs/discovery/keys", h.homeTenant(h.jwks))
	m.HandleFunc("/adfs/oauth2/token", h.homeTenant(h.token))
	m.HandleFunc("/adfs/oauth2/authorize", h.homeTenant(h.authorize))
	m.HandleFunc("/adfs/oauth2/devicecode", h.homeTenant(h.deviceCode))
	m.HandleFunc("/adfs/oauth2/logout", h.homeTenant(h.logout))
}

// homeTenant serves next as if the path named the server's tenant.
func (h *Handler) homeTenant(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.SetPathValue("tenant", h.dir.Tenant)
		next(w, r)
	}
}

func (h *Handler) adfsDiscovery(w http.ResponseWriter, r *http.Request) {
	h.serveDiscovery(w, r, adfsEndpoints)
}

// adfsEndpoints are ADFS's endpoint paths. MSAL takes the first path segment
// of the token endpoint as the tenant ("adfs"), which marks the accounts of
// its token cache as ADFS ones.
func adfsEndpoints(b string) endpoints {
	a := b + "/adfs"
	return endpoints{authorize: a + "/oauth2/authorize", token: a + "/oauth2/token",
		device: a + "/oauth2/devicecode", logout: a + "/oauth2/logout", jwks: a + "/discovery/keys"}
}
