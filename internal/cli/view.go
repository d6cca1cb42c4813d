package cli

import (
	"strings"
)

// az prints the Python SDK's models, not the raw ARM JSON: the "properties"
// of ARM resources are flattened into the resource (so `--query loginServer`
// and `subnets[0].name` work), and every object with a resource ID gets its
// "resourceGroup". azView does the same to the server's answers, so that
// queries written for az work unchanged. Resource groups and providers are
// printed as they come (their SDK models do not flatten).

// azView returns v (generic JSON: a resource or a list) in az's shape.
func azView(v any) any {
	switch x := v.(type) {
	case []any:
		for i := range x {
			x[i] = azView(x[i])
		}
		return x
	case map[string]any:
		if props, ok := x["properties"].(map[string]any); ok {
			delete(x, "properties")
			for k, pv := range props {
				if _, taken := x[k]; !taken {
					x[k] = pv
				}
			}
		}
		for k, e := range x {
			x[k] = azView(e)
		}
		addResourceGroup(x)
		return x
	}
	return v
}

// addResourceGroup sets "resourceGroup" from "id" for resources inside a
// resource group (az's _add_resource_group: IDs of at least nine segments).
func addResourceGroup(m map[string]any) {
	id, _ := m["id"].(string)
	if _, ok := m["resourceGroup"]; ok || id == "" {
		return
	}
	if rg := groupOf(id); rg != "" && len(strings.Split(id, "/")) >= 9 {
		m["resourceGroup"] = rg
	}
}

// groupOf returns the resource group named in a resource ID, "" if none.
func groupOf(id string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "resourceGroups") {
			return parts[i+1]
		}
	}
	return ""
}

// nameOf returns the last segment of a resource ID.
func nameOf(id string) string {
	id = strings.TrimRight(id, "/")
	return id[strings.LastIndex(id, "/")+1:]
}

// str reads a nested string field of generic JSON ("" if absent).
func str(v any, path ...string) string {
	s, _ := dig(v, path...).(string)
	return s
}

// dig reads a nested field of generic JSON (nil if absent).
func dig(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// objects returns the objects in a generic JSON list.
func objects(v any) []object {
	list, _ := v.([]any)
	out := make([]object, 0, len(list))
	for _, e := range list {
		if o, ok := e.(object); ok {
			out = append(out, o)
		}
	}
	return out
}

// anyList converts objects to a generic JSON list.
func anyList(objs []object) []any {
	out := make([]any, len(objs))
	for i, o := range objs {
		out[i] = o
	}
	return out
}

// value is az's _get_value for table cells: the field as text, " " when it
// is missing or empty/false.
func value(v any, path ...string) string {
	x := dig(v, path...)
	switch t := x.(type) {
	case nil:
		return " "
	case bool:
		if !t {
			return " "
		}
	case string:
		if t == "" {
			return " "
		}
	case float64:
		if t == 0 {
			return " "
		}
	case []any:
		if len(t) == 0 {
			return " "
		}
	case map[string]any:
		if len(t) == 0 {
			return " "
		}
	}
	return tableText(x)
}

// perItem applies a row maker to a result that is one object or a list.
func perItem(f func(o any) row) tableFunc {
	return func(v any) []row {
		items, ok := v.([]any)
		if !ok {
			items = []any{v}
		}
		rows := make([]row, 0, len(items))
		for _, it := range items {
			rows = append(rows, f(it))
		}
		return rows
	}
}
