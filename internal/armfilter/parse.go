package armfilter

import "strings"

// parser is a recursive-descent parser over tokens:
//
//	or     := and ("or" and)*
//	and    := factor ("and" factor)*
//	factor := "(" or ")" | property ("eq"|"ne") string
//	        | "substringof" "(" string "," property ")"
type parser struct {
	toks  []token
	pos   int
	terms int
}

func (p *parser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *parser) keyword(word string) bool {
	t, ok := p.peek()
	if ok && t.kind == tokWord && strings.EqualFold(t.text, word) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(kind tokKind, what string) (token, error) {
	t, ok := p.peek()
	if !ok {
		return t, errorf("the $filter ends where %s is expected", what)
	}
	if t.kind != kind {
		return t, errorf("%s expected at position %d of the $filter, found %s", what, t.pos+1, t)
	}
	p.pos++
	return t, nil
}

func (p *parser) or(depth int) (node, error) {
	return p.list(depth, "or", p.and, func(k []node) node { return orNode(k) })
}

func (p *parser) and(depth int) (node, error) {
	return p.list(depth, "and", p.factor, func(k []node) node { return andNode(k) })
}

// list parses next (sep next)*, grouping several with group.
func (p *parser) list(depth int, sep string, next func(int) (node, error), group func([]node) node) (node, error) {
	first, err := next(depth)
	if err != nil {
		return nil, err
	}
	kids := []node{first}
	for p.keyword(sep) {
		n, err := next(depth)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return group(kids), nil
}

func (p *parser) factor(depth int) (node, error) {
	t, ok := p.peek()
	if !ok {
		return nil, errorf("the $filter ends where a condition is expected")
	}
	if t.kind == tokOpen {
		if depth >= maxDepth {
			return nil, errorf("the $filter nests parentheses deeper than %d", maxDepth)
		}
		p.pos++
		n, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tokClose, "')'"); err != nil {
			return nil, err
		}
		return n, nil
	}
	if p.terms++; p.terms > maxTerms {
		return nil, errorf("the $filter has more than %d conditions", maxTerms)
	}
	if p.keyword("substringof") {
		return p.substringOf()
	}
	return p.comparison()
}

func (p *parser) property() (string, error) {
	t, err := p.expect(tokWord, "a property")
	if err != nil {
		return "", err
	}
	prop, ok := properties[strings.ToLower(t.text)]
	if !ok {
		return "", errorf("the property %s at position %d of the $filter is not supported", t, t.pos+1)
	}
	return prop, nil
}

func (p *parser) comparison() (node, error) {
	prop, err := p.property()
	if err != nil {
		return nil, err
	}
	op, err := p.expect(tokWord, "eq or ne")
	if err != nil {
		return nil, err
	}
	ne := strings.EqualFold(op.text, "ne")
	if !ne && !strings.EqualFold(op.text, "eq") {
		return nil, errorf("the operator %s at position %d of the $filter is not supported (eq or ne)", op, op.pos+1)
	}
	v, err := p.expect(tokString, "a 'quoted' value")
	if err != nil {
		return nil, err
	}
	return compare{prop: prop, value: v.text, ne: ne}, nil
}

func (p *parser) substringOf() (node, error) {
	if _, err := p.expect(tokOpen, "'('"); err != nil {
		return nil, err
	}
	v, err := p.expect(tokString, "a 'quoted' value")
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tokComma, "','"); err != nil {
		return nil, err
	}
	at := p.pos
	prop, err := p.property()
	if err != nil {
		return nil, err
	}
	if prop != "name" && prop != "resourceGroup" {
		return nil, errorf("substringof at position %d of the $filter applies to name or resourceGroup, not %s", p.toks[at].pos+1, prop)
	}
	if _, err := p.expect(tokClose, "')'"); err != nil {
		return nil, err
	}
	return substring{prop: prop, value: v.text}, nil
}
