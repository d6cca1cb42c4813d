package mgmt

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

// An ARM PATCH is a JSON merge patch (RFC 7396) of the resource as a GET in
// the request's api-version shows it: objects merge member by member, arrays
// and scalars replace, null removes. The result is then checked and stored
// as a PUT of it would be (crud.go), so one validation serves both.

// readObject reads a request body that must be one JSON object. Numbers are
// kept as written (json.Number), so that a round trip changes none.
func readObject(r *http.Request) (map[string]any, error) {
	var v any
	if err := decodeWith(r, &v, true); err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("InvalidRequestContent", "the request body must be a JSON object (the resource, or the members to change)")
	}
	if err := distinctMembers(m, ""); err != nil {
		return nil, err
	}
	return m, nil
}

// distinctMembers refuses an object in which two members' names differ only
// in case: ARM's member names are case-insensitive, so which one applied
// would be a guess.
func distinctMembers(v any, at string) error {
	switch x := v.(type) {
	case map[string]any:
		seen := make(map[string]string, len(x))
		for k, e := range x {
			low := strings.ToLower(k)
			if other, dup := seen[low]; dup {
				return badRequest("InvalidRequestContent", "the request body names the member %q twice (%q and %q); member names are case-insensitive: send it once", at+k, other, k)
			}
			seen[low] = k
			if err := distinctMembers(e, at+k+"."); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := distinctMembers(e, at); err != nil {
				return err
			}
		}
	}
	return nil
}

// mergePatch applies patch to target (RFC 7396) and returns the result;
// target's objects are changed in place. A patch member matches a target
// member case-insensitively and keeps the target's spelling.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		k = memberName(t, k)
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// memberName is the spelling obj uses for the member name (case-insensitive), or name.
func memberName(obj map[string]any, name string) string {
	if _, ok := obj[name]; ok {
		return name
	}
	for k := range obj {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

// toObject is v (a resource as served) as a JSON object.
func toObject(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	return m, dec.Decode(&m)
}
