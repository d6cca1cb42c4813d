package mgmt

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func clone(v any) any {
	b, _ := json.Marshal(v)
	c, _ := decodeNumbers(b)
	return c
}

// FuzzMergePatch: a PATCH body the server accepts (readObject) applies as
// RFC 7396 says: idempotent, removing what it nulls, keeping what it does
// not name; never a panic.
func FuzzMergePatch(f *testing.F) {
	reg := `{"sku":{"name":"Premium"},"properties":{"adminUserEnabled":false,"networkRuleSet":{"defaultAction":"Allow","ipRules":[{"value":"1.2.3.4"}],"virtualNetworkRules":[{"id":"/s"}]}}}`
	f.Add([]byte(reg), []byte(`{"properties":{"networkRuleSet":{"defaultAction":"Deny"}}}`))
	f.Add([]byte(reg), []byte(`{"properties":{"networkRuleSet":null,"AdminUserEnabled":true}}`))
	f.Add([]byte(`{"a":[1,2]}`), []byte(`{"a":{"b":null,"c":{"d":null}}}`))
	f.Add([]byte(`"x"`), []byte(`{"a":1e400}`))
	f.Fuzz(func(t *testing.T, target, patch []byte) {
		tv, err := decodeNumbers(target)
		if err != nil {
			return
		}
		r := httptest.NewRequest(http.MethodPatch, "/", bytes.NewReader(patch))
		p, err := readObject(r)
		if err != nil {
			return
		}
		once := mergePatch(clone(tv), clone(p))
		twice := mergePatch(clone(once), clone(p))
		if !reflect.DeepEqual(once, twice) {
			t.Fatalf("not idempotent:\n%v\n%v", once, twice)
		}
		out, ok := once.(map[string]any)
		if !ok {
			t.Fatalf("an object patch gave %T", once)
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("the result does not marshal: %v", err)
		}
		for k, v := range p {
			_, there := out[memberName(out, k)]
			if v == nil && there {
				t.Fatalf("member %q nulled but still there: %v", k, out)
			}
			if v != nil && !there {
				t.Fatalf("member %q set but missing: %v", k, out)
			}
		}
		if t0, ok := clone(tv).(map[string]any); ok {
			for k, v := range t0 {
				if _, named := p[memberName(p, k)]; !named && !reflect.DeepEqual(out[k], v) {
					t.Fatalf("member %q not in the patch changed: %v -> %v", k, v, out[k])
				}
			}
		}
	})
}

// FuzzShapes: showing, checking and keeping a registry's version-dependent
// members never panics on any document, and show leaves no member the
// version lacks.
func FuzzShapes(f *testing.F) {
	f.Add([]byte(`{"identity":{},"properties":{"networkRuleSet":{"virtualNetworkRules":[{"id":"x"},7,null]},"anonymousPullEnabled":true}}`), "2022-02-01-preview")
	f.Add([]byte(`{"properties":{"networkRuleSet":[1],"policies":null}}`), "2026-03-01-preview")
	f.Add([]byte(`[]`), "2017-03-01")
	f.Fuzz(func(t *testing.T, doc []byte, version string) {
		v, err := decodeNumbers(doc)
		m, ok := v.(map[string]any)
		if err != nil || !ok {
			return
		}
		stored := clone(m).(map[string]any)
		_ = registryShape.check(clone(m).(map[string]any), version, "registry")
		registryShape.keep(m, stored, version)
		registryShape.show(m, version)
		for _, mb := range registryShape.members {
			if registryShape.has(mb, version) || strings.Contains(strings.Join(mb.path, "/"), "[]") {
				continue
			}
			if _, there := lookup(m, mb.path); there {
				t.Fatalf("%s shown in %s", strings.Join(mb.path, "."), version)
			}
		}
	})
}
