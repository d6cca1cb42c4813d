// Package regauth is the registry's side of the Docker token flow: the token
// endpoints (/oauth2/token, /oauth2/exchange) and the check of access tokens
// on every data-plane request. What a request asks for (registry, scopes,
// credential) is read once by internal/target; regauth decides on that.
package regauth

import (
	"slices"

	"github.com/moat-registry/moat/internal/auth/token"
)

// covers reports whether granted access includes every action of need, on
// the registry of UID rid (when the need is on a registry: "" otherwise).
func covers(granted []token.Access, need token.Access, rid string) bool {
	for _, act := range need.Actions {
		ok := false
		for _, g := range granted {
			if g.Type == need.Type && g.Name == need.Name && g.Registry == rid && (slices.Contains(g.Actions, act) || slices.Contains(g.Actions, "*")) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
