package cli

import "testing"

func TestTenantTokenEndpoint(t *testing.T) {
	for _, c := range []struct{ login, want string }{
		{"https://moat.example/adfs", "https://moat.example/identity/t1/oauth2/v2.0/token"},
		{"https://moat.example/adfs/", "https://moat.example/identity/t1/oauth2/v2.0/token"},
		{"https://moat.example/identity/", "https://moat.example/identity/t1/oauth2/v2.0/token"},
		{"https://login.example/", "https://login.example/t1/oauth2/v2.0/token"},
	} {
		if got := tenantTokenEndpoint(c.login, "t1"); got != c.want {
			t.Errorf("tenantTokenEndpoint(%s) = %s, want %s", c.login, got, c.want)
		}
	}
}
