package regauth

import (
	"testing"

	"github.com/moat-registry/moat/internal/auth/scopemap"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta"
)

func TestTokenSubject(t *testing.T) {
	reg := &regindex.Registry{Registry: &meta.Registry{Key: "myregistry"}}
	sub := tokenSubject(reg, "CI-Token")
	key, name, ok := sub.tokenOf()
	if !ok || key != "myregistry" || name != "ci-token" {
		t.Errorf("tokenOf(%s) = %q %q %v", sub, key, name, ok)
	}
	for _, s := range []subject{"", "registry-admin:myregistry", "registry-token:nokey", "3f6c2b1e-0000-0000-0000-000000000000"} {
		if _, _, ok := s.tokenOf(); ok {
			t.Errorf("%q taken for a token's subject", s)
		}
	}
	if _, ok := sub.adminOf(); ok {
		t.Errorf("a token's subject taken for the admin user's")
	}
}

// TestScopePermission: every repository action a token may be asked for
// maps to a scope map permission (an unmapped one would be granted nothing).
func TestScopePermission(t *testing.T) {
	for _, act := range expand([]string{"*"}) {
		p, ok := scopePermission[act]
		if !ok {
			t.Errorf("%s has no scope map permission", act)
			continue
		}
		if _, err := scopemap.Parse("repositories/x/" + p); err != nil {
			t.Errorf("%s -> %s: %v", act, p, err)
		}
	}
}
