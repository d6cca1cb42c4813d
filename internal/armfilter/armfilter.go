// Package armfilter parses and evaluates the $filter of ARM's resource lists
// (GET /subscriptions/{s}[/resourceGroups/{g}]/resources), in the forms az,
// the Azure SDKs and templates send:
//
//	resourceType eq 'Microsoft.ContainerRegistry/registries'
//	name eq 'reg1' and resourceType eq 'Microsoft.Network/virtualNetworks'
//	substringof('prod', name) or location eq 'westus'
//	tagName eq 'env' and tagValue eq 'prod'
//	(resourceType eq 'a/b' or resourceType eq 'c/d') and resourceGroup ne 'x'
//
// Properties: name, resourceType, resourceGroup, location, tagName,
// tagValue (eq and ne), and substringof(value, name|resourceGroup). Keywords
// and property names are case-insensitive, and so are the comparisons,
// except of tag values (as ARM compares them). Within one "and" group,
// tagName eq and tagValue eq mean one tag with that name and value.
//
// The input is untrusted: its length, nesting and number of terms are
// bounded, and every error says what is supported.
package armfilter

import (
	"fmt"
	"strings"
)

// Limits on the filter text.
const (
	MaxLength = 4096
	maxDepth  = 16
	maxTerms  = 64
)

// Resource is what a filter looks at.
type Resource struct {
	Name, Type, ResourceGroup, Location string
	Tags                                map[string]string
}

// Filter is a parsed $filter; the zero value (and nil) matches everything.
type Filter struct{ root node }

// Match reports whether r passes the filter.
func (f *Filter) Match(r Resource) bool {
	if f == nil || f.root == nil {
		return true
	}
	return f.root.match(r)
}

// String is the filter in a canonical form (parsing it gives the same filter).
func (f *Filter) String() string {
	if f == nil || f.root == nil {
		return ""
	}
	return f.root.String()
}

// Error is a filter that cannot be parsed; the message says why and what is
// supported.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

func errorf(format string, args ...any) error {
	return &Error{msg: fmt.Sprintf(format, args...) + ". Supported: property eq|ne 'value' (properties name, resourceType, resourceGroup, location, tagName, tagValue), substringof('value', name|resourceGroup), joined with and/or and parentheses"}
}

// Properties a comparison may name, by lower-case name.
var properties = map[string]string{
	"name": "name", "resourcetype": "resourceType", "resourcegroup": "resourceGroup",
	"location": "location", "tagname": "tagName", "tagvalue": "tagValue",
}

// Parse parses a $filter; "" is the filter that matches everything.
func Parse(s string) (*Filter, error) {
	if len(s) > MaxLength {
		return nil, errorf("the $filter is longer than %d characters", MaxLength)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return &Filter{}, nil
	}
	p := &parser{toks: toks}
	root, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, errorf("unexpected %s at position %d of the $filter", p.toks[p.pos], p.toks[p.pos].pos+1)
	}
	return &Filter{root: root}, nil
}

// value reads a property of r; tags are handled by the comparison.
func value(r Resource, prop string) string {
	switch prop {
	case "name":
		return r.Name
	case "resourceType":
		return r.Type
	case "resourceGroup":
		return r.ResourceGroup
	case "location":
		return r.Location
	}
	return ""
}

// quote writes v as a filter literal.
func quote(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }
