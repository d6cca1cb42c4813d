package mgmt

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/auth/scopemap"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Scope maps and tokens: repository-scoped credentials (docs/registry.md).
// A scope map lists repository actions; a token is a user name with two
// passwords, bound to one scope map of its registry. Every registry also
// has ACR's built-in scope maps (scopemap.Builtins), which cannot be
// changed or deleted.
const (
	typeScopeMap = registryType + "/scopeMaps"
	typeToken    = registryType + "/tokens"

	scopeMapSystem = "SystemDefined"
	scopeMapUser   = "UserDefined"
)

// ScopeMap is a scope map as ARM serves and stores it.
type ScopeMap struct {
	ID         string             `json:"id"`
	Name       string             `json:"name"`
	Type       string             `json:"type"`
	Properties ScopeMapProperties `json:"properties"`
}

// ScopeMapProperties are a scope map's properties.
type ScopeMapProperties struct {
	Description       string    `json:"description"`
	Type              string    `json:"type"`
	CreationDate      time.Time `json:"creationDate"`
	ProvisioningState string    `json:"provisioningState"`
	Actions           []string  `json:"actions"`
}

const maxScopeMapDescription = 256

// scopeMapKey is where a registry's scope map is stored: names are
// case-insensitive, as ARM's are.
func scopeMapKey(regID, name string) string { return regID + "/scopeMaps/" + strings.ToLower(name) }

var scopeMaps = &kind[ScopeMap]{
	typ: typeScopeMap, what: "scope map",
	parent: registryParent,
	load: func(c *call) (ScopeMap, int64, bool, error) {
		if b, ok := scopemap.FindBuiltin(c.id.Name()); ok {
			return builtinScopeMap(c, b), 1, true, nil
		}
		return loadDoc[ScopeMap](c, scopeMapKey(c.parentID, c.id.Name()))
	},
	list: func(c *call) ([]listed[ScopeMap], error) {
		var out []listed[ScopeMap]
		for _, b := range scopemap.Builtins {
			sm := builtinScopeMap(c, b)
			out = append(out, listed[ScopeMap]{id: sm.ID, s: sm, version: 1})
		}
		own, err := listDocs(c, typeScopeMap, c.parentID+"/scopeMaps/", func(s *ScopeMap) string { return s.ID })
		return append(out, own...), err
	},
	render: func(_ *call, s ScopeMap, _ int64) (any, error) { return s, nil },
	put:    putScopeMap,
	remove: func(c *call, s ScopeMap) error {
		if s.Properties.Type == scopeMapSystem {
			return builtinReadOnly(s.Name)
		}
		if err := c.h.Meta.DeleteResource(c.ctx, scopeMapKey(c.parentID, s.Name)); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		return nil
	},
}

// builtinScopeMap is a built-in scope map as the registry of c shows it.
func builtinScopeMap(c *call, b scopemap.Builtin) ScopeMap {
	var created time.Time
	if reg, err := c.h.getRegistry(c.ctx, c.id.ResourceGroup, c.id.Names[0]); err == nil {
		created = reg.CreatedAt.UTC()
	}
	return ScopeMap{ID: c.parentID + "/scopeMaps/" + b.Name, Name: b.Name, Type: typeScopeMap, Properties: ScopeMapProperties{
		Description: b.Description, Type: scopeMapSystem, CreationDate: created, ProvisioningState: "Succeeded", Actions: scopemap.Strings(b.Actions)}}
}

func builtinReadOnly(name string) error {
	return armErr(http.StatusBadRequest, "ScopeMapReadOnly", "%s is a built-in scope map: it cannot be changed or deleted; create a scope map of your own (moat acr scope-map create)", name)
}

func putScopeMap(c *call, cur *ScopeMap, version int64, body []byte) (ScopeMap, int64, error) {
	var in ScopeMap
	if err := decodeBody(body, &in); err != nil {
		return in, 0, err
	}
	name := c.id.Name()
	if _, ok := scopemap.FindBuiltin(name); ok || cur != nil && cur.Properties.Type == scopeMapSystem {
		return in, 0, builtinReadOnly(name)
	}
	s := ScopeMap{ID: c.parentID + "/scopeMaps/" + name, Name: name, Type: typeScopeMap}
	s.Properties.CreationDate = time.Now().UTC()
	if cur != nil {
		s.ID, s.Name, s.Properties.CreationDate = cur.ID, cur.Name, cur.Properties.CreationDate
	} else if !validChildName(name, true) {
		return s, 0, badRequest("InvalidResourceName", "scope map name %q is invalid: 5-50 letters, digits, '-' and '_'", name)
	}
	if len(in.Properties.Description) > maxScopeMapDescription {
		return s, 0, badRequest("InvalidParameter", "properties.description has %d characters; at most %d are allowed", len(in.Properties.Description), maxScopeMapDescription)
	}
	acts, err := scopemap.ParseAll(in.Properties.Actions)
	if err != nil {
		return s, 0, badRequest("InvalidScopeMapActions", "properties.actions: %v", err)
	}
	s.Properties.Description, s.Properties.Actions = in.Properties.Description, scopemap.Strings(acts)
	s.Properties.Type, s.Properties.ProvisioningState = scopeMapUser, "Succeeded"
	v, err := c.h.save(c.ctx, scopeMapKey(c.parentID, name), typeScopeMap, s, version)
	return s, v, err
}

// validChildName: 5-50 letters, digits and '-' (and '_' when underscore).
func validChildName(s string, underscore bool) bool {
	if len(s) < 5 || len(s) > 50 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || underscore && c == '_') {
			return false
		}
	}
	return true
}
