package scopemap

import "strings"

// Builtin is a system-defined scope map: present in every registry, read-only.
type Builtin struct {
	Name, Description string
	Actions           []Action
}

func everyRepo(perms ...string) []Action {
	out := make([]Action, 0, len(perms))
	for _, p := range perms {
		out = append(out, Action{Prefix: true, Perm: p})
	}
	return out
}

// Builtins are ACR's system-defined scope maps.
var Builtins = []Builtin{
	{"_repositories_admin", "Can perform all read, write and delete operations on the registry",
		everyRepo(MetadataRead, MetadataWrite, ContentRead, ContentWrite, ContentDelete)},
	{"_repositories_pull", "Can pull any repository of the registry", everyRepo(ContentRead)},
	{"_repositories_pull_metadata_read", "Can pull and read the metadata of any repository of the registry", everyRepo(ContentRead, MetadataRead)},
	{"_repositories_push", "Can push to any repository of the registry", everyRepo(ContentRead, ContentWrite)},
	{"_repositories_push_metadata_write", "Can push to and change the metadata of any repository of the registry",
		everyRepo(MetadataRead, MetadataWrite, ContentRead, ContentWrite)},
}

// FindBuiltin finds a built-in scope map by name (case-insensitive).
func FindBuiltin(name string) (Builtin, bool) {
	for _, b := range Builtins {
		if strings.EqualFold(b.Name, name) {
			return b, true
		}
	}
	return Builtin{}, false
}
