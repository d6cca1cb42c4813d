package armfilter

import (
	"strconv"
	"strings"
)

type tokKind int

const (
	tokWord   tokKind = iota // keyword or property name
	tokString                // 'quoted'
	tokOpen                  // (
	tokClose                 // )
	tokComma                 // ,
)

type token struct {
	kind tokKind
	text string // the word, or the unquoted string
	pos  int    // byte offset in the filter
}

func (t token) String() string {
	switch t.kind {
	case tokString:
		return "string " + quote(t.text)
	case tokWord:
		return strconv.Quote(t.text)
	}
	return "'" + t.text + "'"
}

// lex splits a filter into tokens.
func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == ',':
			kind := map[byte]tokKind{'(': tokOpen, ')': tokClose, ',': tokComma}[c]
			toks = append(toks, token{kind: kind, text: string(c), pos: i})
			i++
		case c == '\'':
			text, next, ok := lexString(s, i)
			if !ok {
				return nil, errorf("the string at position %d of the $filter has no closing quote (write a quote inside a string as '')", i+1)
			}
			toks = append(toks, token{kind: tokString, text: text, pos: i})
			i = next
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, token{kind: tokWord, text: s[i:j], pos: i})
			i = j
		default:
			return nil, errorf("unexpected character %q at position %d of the $filter", rune(c), i+1)
		}
		if len(toks) > 4*maxTerms {
			return nil, errorf("the $filter has more than %d terms", maxTerms)
		}
	}
	return toks, nil
}

// lexString reads the quoted string starting at s[start]; ” is a quote.
func lexString(s string, start int) (string, int, bool) {
	var b strings.Builder
	for i := start + 1; i < len(s); i++ {
		if s[i] != '\'' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		return b.String(), i + 1, true
	}
	return "", 0, false
}

// isWordByte: letters, digits and '/' (identity/principalId is one word).
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '_'
}
