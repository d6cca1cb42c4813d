package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// parseFile parses the YAML file and checks that every key in it is a
// setting, given once; it returns the mapping of settings (nil: an empty
// file).
func parseFile(raw []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	root := deref(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	return root, checkKeys(root, reflect.TypeOf(Config{}), "")
}

// checkKeys checks mapping n against struct type t: every key names a field
// (by its yaml tag) and appears once; sections and listeners: entries are
// mappings too.
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s must be a mapping of settings (key: value)", n.Line, orTop(path))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		key := k.Value
		f, ok := fieldByYAML(t, key)
		if !ok || k.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %q is not a setting of %s (see the configuration table in README.md)", k.Line, key, orTop(path))
		}
		if seen[key] {
			return fmt.Errorf("line %d: %s is set twice", k.Line, join(path, key))
		}
		seen[key] = true
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue
		}
		switch {
		case f.Type.Kind() == reflect.Struct:
			if err := checkKeys(v, f.Type, join(path, key)); err != nil {
				return err
			}
		case f.Type == listenersType && v.Kind == yaml.SequenceNode:
			for _, item := range v.Content {
				if err := checkKeys(deref(item), reflect.TypeOf(Listener{}), join(path, key)+" entry"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func fieldByYAML(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); f.Tag.Get("yaml") == key && key != "" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orTop(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}

// lookup returns the value of the dotted key in mapping n; nil if it is
// absent or null.
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil || key == "" {
		return nil
	}
	for _, part := range strings.Split(key, ".") {
		if n = deref(n); n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	if n = deref(n); n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	return n
}

// deref follows an alias (*name) to its anchor's node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}
