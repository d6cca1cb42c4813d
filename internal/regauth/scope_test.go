package regauth

import (
	"testing"

	"github.com/moat-registry/moat/internal/token"
)

func TestCovers(t *testing.T) {
	g := []token.Access{{Type: "repository", Name: "a", Actions: []string{"pull"}}, {Type: "repository", Name: "b", Actions: []string{"*"}}}
	if !covers(g, token.Access{Type: "repository", Name: "a", Actions: []string{"pull"}}) ||
		covers(g, token.Access{Type: "repository", Name: "a", Actions: []string{"push"}}) ||
		!covers(g, token.Access{Type: "repository", Name: "b", Actions: []string{"push", "delete"}}) ||
		covers(g, token.Access{Type: "repository", Name: "c", Actions: []string{"pull"}}) {
		t.Fatal("covers")
	}
}
