// Package scopemap is ACR's repository-scoped permissions: the actions of a
// scope map ("repositories/<repository or prefix/*>/content/read"), how
// they match a repository, the built-in scope maps every registry has, and
// what a registry token (a user name and two passwords bound to one scope
// map) keeps. The management API stores scope maps and tokens
// (internal/mgmt); the token service decides with them (internal/regauth).
package scopemap

import (
	"fmt"
	"strings"

	"github.com/moat-registry/moat/internal/oci/names"
)

// The repository permissions of a scope map action.
const (
	ContentRead   = "content/read"   // pull
	ContentWrite  = "content/write"  // push
	ContentDelete = "content/delete" // delete manifests and tags
	MetadataRead  = "metadata/read"  // list and show (/acr/v1/)
	MetadataWrite = "metadata/write" // change attributes (/acr/v1/)
)

// Permissions are the repository permissions, in az's order.
var Permissions = []string{ContentDelete, ContentRead, ContentWrite, MetadataRead, MetadataWrite}

// MaxActions bounds the actions of one scope map (ACR: 500).
const MaxActions = 500

// maxActionLength bounds one action: "repositories/", a repository name and a permission.
const maxActionLength = len("repositories/") + names.MaxRepositoryLength + len("/metadata/write")

// Action is one parsed scope map action.
type Action struct {
	// Repo is the repository, or with Prefix the repository prefix the
	// action covers: "samples/" for "samples/*", "" for "*" (every repository).
	Repo   string
	Prefix bool
	Perm   string
}

// String is the action in its canonical form.
func (a Action) String() string {
	repo := a.Repo
	if a.Prefix {
		repo += "*"
	}
	return "repositories/" + repo + "/" + a.Perm
}

// Covers reports whether the action grants perm on repo.
func (a Action) Covers(repo, perm string) bool {
	if a.Perm != perm {
		return false
	}
	if a.Prefix {
		return strings.HasPrefix(repo, a.Repo)
	}
	return repo == a.Repo
}

// Parse reads one action: repositories/<repo>/<permission>, where <repo> is
// a repository name, a prefix ending in "/*" (samples/* covers samples/a and
// samples/a/b, not samples itself), or "*" (every repository). Letters are
// taken in any case, as az sends them lower-cased; repository names are
// lower-case.
func Parse(s string) (Action, error) {
	if len(s) > maxActionLength {
		return Action{}, fmt.Errorf("action %.40q... is too long", s)
	}
	lower := strings.ToLower(s)
	rest, ok := strings.CutPrefix(lower, "repositories/")
	if !ok {
		if strings.HasPrefix(lower, "gateway/") {
			return Action{}, fmt.Errorf("action %q: gateway actions are for connected registries, which moat does not have; use repositories/<repository>/<permission>", s)
		}
		return Action{}, fmt.Errorf("action %q is invalid: use repositories/<repository>/<permission>, e.g. repositories/hello-world/content/read", s)
	}
	var a Action
	for _, p := range Permissions {
		if repo, ok := strings.CutSuffix(rest, "/"+p); ok {
			a.Perm, rest = p, repo
			break
		}
	}
	if a.Perm == "" {
		return Action{}, fmt.Errorf("action %q has no valid permission: use one of %s", s, strings.Join(Permissions, ", "))
	}
	switch {
	case rest == "*":
		a.Prefix = true
	case strings.HasSuffix(rest, "/*"):
		a.Repo, a.Prefix = strings.TrimSuffix(rest, "*"), true
		if !names.ValidRepository(strings.TrimSuffix(a.Repo, "/")) {
			return Action{}, fmt.Errorf("action %q: %q is not a valid repository prefix", s, strings.TrimSuffix(a.Repo, "/"))
		}
	case strings.Contains(rest, "*"):
		return Action{}, fmt.Errorf("action %q: a wildcard may only end a repository prefix (samples/*) or stand alone (*)", s)
	default:
		if !names.ValidRepository(rest) {
			return Action{}, fmt.Errorf("action %q: %q is not a valid repository name", s, rest)
		}
		a.Repo = rest
	}
	return a, nil
}

// ParseAll parses a scope map's actions: at least one, at most MaxActions,
// each valid. It returns them in canonical form, without duplicates.
func ParseAll(in []string) ([]Action, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("a scope map needs at least one action, e.g. repositories/hello-world/content/read")
	}
	if len(in) > MaxActions {
		return nil, fmt.Errorf("a scope map has at most %d actions; this one has %d", MaxActions, len(in))
	}
	seen := map[Action]bool{}
	var out []Action
	for _, s := range in {
		a, err := Parse(s)
		if err != nil {
			return nil, err
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// Strings is the actions in canonical form.
func Strings(as []Action) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

// Allows reports whether any of actions grants perm on repo.
func Allows(actions []Action, repo, perm string) bool {
	for _, a := range actions {
		if a.Covers(repo, perm) {
			return true
		}
	}
	return false
}
