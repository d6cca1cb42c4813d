package cli

import (
	"fmt"
	"sort"

	jmespath "github.com/jmespath-community/go-jmespath"
	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

// query is a compiled --query (JMESPath), as az applies it: to the command's
// JSON result, before the output format.
type query struct {
	expr string
	jp   jmespath.JMESPath
	// hashes are the key lists of the expression's multi-select hashes
	// ({Name: name, Subnet: subnets[0].name}). az evaluates them into ordered
	// dicts, so table and tsv output keep the keys in the order written.
	hashes [][]string
}

func compileQuery(expr string) (*query, error) {
	ast, err := parsing.NewParser().Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("--query %q is not a valid JMESPath expression: %v", expr, err)
	}
	jp, err := jmespath.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("--query %q is not a valid JMESPath expression: %v", expr, err)
	}
	q := &query{expr: expr, jp: jp}
	q.collect(ast)
	return q, nil
}

func (q *query) collect(n parsing.ASTNode) {
	if n.NodeType == parsing.ASTMultiSelectHash {
		var keys []string
		for _, kv := range n.Children {
			if k, ok := kv.Value.(string); ok {
				keys = append(keys, k)
			}
		}
		q.hashes = append(q.hashes, keys)
	}
	for _, c := range n.Children {
		q.collect(c)
	}
}

// search applies the query to v (generic JSON).
func (q *query) search(v any) (any, error) {
	out, err := q.jp.Search(v)
	if err != nil {
		return nil, fmt.Errorf("--query %q: %v", q.expr, err)
	}
	return out, nil
}

// keyOrder returns m's keys in the order of the query's multi-select hash
// that produced m, else sorted.
func (q *query) keyOrder(m map[string]any) []string {
	if q != nil {
	next:
		for _, keys := range q.hashes {
			if len(keys) != len(m) {
				continue
			}
			for _, k := range keys {
				if _, ok := m[k]; !ok {
					continue next
				}
			}
			return keys
		}
	}
	return sortedKeys(m)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
