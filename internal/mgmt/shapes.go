package mgmt

import (
	"slices"
	"strings"
)

// Shapes per api-version. A resource type is stored and served in one
// (newest) shape; a shape lists the members that only some of the type's
// published api-versions have, or that some name differently, as the REST
// API specifications define each version (the tables are in shapes_*.go).
// A request in api-version v:
//   - sees the resource without the members v lacks, under v's names (show);
//   - may not set a member v lacks (check: 400, naming the versions that have it);
//   - leaves a member v lacks as it was (keep): a client cannot resend what it
//     cannot see, so a PUT or PATCH in an older version never drops it.
//
// A version the type has not published (one of moat's own compatVersions,
// apiversions.go) sees every member.

// A member is a JSON member that not every api-version of a type has.
type member struct {
	// path is the member's path from the resource's root; "[]" steps into
	// every element of an array. keep ignores members below "[]".
	path []string
	// in are the api-versions that have it; nil: every version that has its parent.
	in []string
	// names are its other spellings, by api-version.
	names map[string]string
}

// shape is the members of one type that vary by api-version.
type shape struct {
	published []string // the type's api-versions
	members   []member
}

// has reports whether api-version v has m.
func (s shape) has(m member, v string) bool {
	return m.in == nil || slices.Contains(m.in, v) || !slices.Contains(s.published, v)
}

// show makes doc (a resource as stored and served) what api-version v answers.
func (s shape) show(doc map[string]any, v string) {
	for _, m := range s.members {
		last := len(m.path) - 1
		visit(doc, m.path[:last], func(obj map[string]any) {
			k := memberName(obj, m.path[last])
			val, ok := obj[k]
			if !ok {
				return
			}
			delete(obj, k)
			if !s.has(m, v) {
				return
			}
			if n, renamed := m.names[v]; renamed {
				k = n
			}
			obj[k] = val
		})
	}
}

// check refuses a request body (in api-version v) that sets a member v lacks.
func (s shape) check(body map[string]any, v string, what string) error {
	for _, m := range s.members {
		if s.has(m, v) {
			continue
		}
		last, found := len(m.path)-1, false
		visit(body, m.path[:last], func(obj map[string]any) {
			_, ok := obj[memberName(obj, m.path[last])]
			found = found || ok
		})
		if found {
			return badRequest("InvalidRequestContent", "%s is not part of api-version %s of %s; send it with an api-version that has it (%s)",
				strings.Join(m.path, "."), clipVersion(v), what, strings.Join(m.in, ", "))
		}
	}
	return nil
}

// keep copies into body, from stored (the resource as served in the newest
// shape), the members api-version v lacks.
func (s shape) keep(body, stored map[string]any, v string) {
	for _, m := range s.members {
		if s.has(m, v) || slices.Contains(m.path, "[]") {
			continue
		}
		val, ok := lookup(stored, m.path)
		if !ok {
			continue
		}
		obj := body
		for _, p := range m.path[:len(m.path)-1] {
			k := memberName(obj, p)
			next, isObj := obj[k].(map[string]any)
			if !isObj {
				next = map[string]any{}
				obj[k] = next
			}
			obj = next
		}
		obj[memberName(obj, m.path[len(m.path)-1])] = val
	}
}

// visit calls f with every object that path leads to from v.
func visit(v any, path []string, f func(map[string]any)) {
	if len(path) == 0 {
		if obj, ok := v.(map[string]any); ok {
			f(obj)
		}
		return
	}
	if path[0] == "[]" {
		arr, _ := v.([]any)
		for _, e := range arr {
			visit(e, path[1:], f)
		}
		return
	}
	if obj, ok := v.(map[string]any); ok {
		visit(obj[memberName(obj, path[0])], path[1:], f)
	}
}

// lookup is the value at path (no "[]") in doc.
func lookup(doc map[string]any, path []string) (any, bool) {
	var cur any = doc
	for _, p := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[memberName(obj, p)]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// since is the versions of all from first on (all is sorted as published).
func since(all []string, first string) []string {
	return all[slices.Index(all, first):]
}

// except is all without the versions given.
func except(all []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(v string) bool { return slices.Contains(drop, v) })
}
