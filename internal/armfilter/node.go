package armfilter

import "strings"

// node is a parsed condition.
type node interface {
	match(Resource) bool
	String() string
}

type compare struct {
	prop, value string
	ne          bool
}

func (c compare) match(r Resource) bool { return c.holds(r) != c.ne }

// holds is the comparison as eq.
func (c compare) holds(r Resource) bool {
	switch c.prop {
	case "tagName":
		for k := range r.Tags {
			if strings.EqualFold(k, c.value) {
				return true
			}
		}
		return false
	case "tagValue":
		for _, v := range r.Tags {
			if v == c.value {
				return true
			}
		}
		return false
	}
	return strings.EqualFold(value(r, c.prop), c.value)
}

func (c compare) String() string {
	op := " eq "
	if c.ne {
		op = " ne "
	}
	return c.prop + op + quote(c.value)
}

type substring struct{ prop, value string }

func (s substring) match(r Resource) bool {
	return strings.Contains(strings.ToLower(value(r, s.prop)), strings.ToLower(s.value))
}

func (s substring) String() string { return "substringof(" + quote(s.value) + ", " + s.prop + ")" }

type andNode []node

func (a andNode) match(r Resource) bool {
	if !a.tagPair(r) {
		return false
	}
	for _, n := range a {
		if c, ok := n.(compare); ok && !c.ne && (c.prop == "tagName" || c.prop == "tagValue") {
			continue // decided by tagPair
		}
		if !n.match(r) {
			return false
		}
	}
	return true
}

// tagPair: the group's tagName eq and tagValue eq conditions name one tag.
func (a andNode) tagPair(r Resource) bool {
	var names, values []string
	for _, n := range a {
		if c, ok := n.(compare); ok && !c.ne && c.prop == "tagName" {
			names = append(names, c.value)
		} else if ok && !c.ne && c.prop == "tagValue" {
			values = append(values, c.value)
		}
	}
	for _, name := range names {
		if !hasTag(r, name, values) {
			return false
		}
	}
	if len(names) == 0 {
		for _, v := range values {
			if !(compare{prop: "tagValue", value: v}).holds(r) {
				return false
			}
		}
	}
	return true
}

// hasTag: r has a tag named name whose value is every one of values.
func hasTag(r Resource, name string, values []string) bool {
	for k, v := range r.Tags {
		if !strings.EqualFold(k, name) {
			continue
		}
		ok := true
		for _, want := range values {
			ok = ok && v == want
		}
		if ok {
			return true
		}
	}
	return false
}

func (a andNode) String() string { return join(a, " and ") }

type orNode []node

func (o orNode) match(r Resource) bool {
	for _, n := range o {
		if n.match(r) {
			return true
		}
	}
	return false
}

func (o orNode) String() string { return join(o, " or ") }

// join writes nodes with sep, parenthesising groups inside groups.
func join(nodes []node, sep string) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = n.String()
		switch n.(type) {
		case andNode, orNode:
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, sep)
}
