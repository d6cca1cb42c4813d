// Package regauth is the registry's side of the Docker token flow: the token
// endpoints (/oauth2/token, /oauth2/exchange) and the check of access tokens
// on every data-plane request.
package regauth

import (
	"slices"
	"strings"

	"github.com/moat-registry/moat/internal/token"
)

// ParseScope parses a Docker scope "type:name:actions" (the name may itself
// contain colons, e.g. a host:port prefix). Unknown actions are dropped.
func ParseScope(s string) (token.Access, bool) {
	typ, rest, ok := strings.Cut(s, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i <= 0 || typ == "" {
		return token.Access{}, false
	}
	a := token.Access{Type: typ, Name: rest[:i]}
	for act := range strings.SplitSeq(rest[i+1:], ",") {
		switch act {
		case "pull", "push", "delete", "metadata_read", "metadata_write", "*":
			if !slices.Contains(a.Actions, act) {
				a.Actions = append(a.Actions, act)
			}
		}
	}
	return a, len(a.Actions) > 0
}

// FormatScope is the inverse of ParseScope.
func FormatScope(a token.Access) string {
	return a.Type + ":" + a.Name + ":" + strings.Join(a.Actions, ",")
}

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
