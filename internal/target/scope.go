package target

import (
	"slices"
	"strings"

	"github.com/moat-registry/moat/internal/auth/token"
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
