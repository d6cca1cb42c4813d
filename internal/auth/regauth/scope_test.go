package regauth

import (
	"testing"

	"github.com/moat-registry/moat/internal/auth/token"
)

func TestCovers(t *testing.T) {
	const rid = "8d2b0d8e-5c0e-4f7e-9d55-2a3f0c8f9e01"
	g := []token.Access{{Type: "repository", Name: "a", Actions: []string{"pull"}, Registry: rid}, {Type: "repository", Name: "b", Actions: []string{"*"}, Registry: rid}}
	if !covers(g, token.Access{Type: "repository", Name: "a", Actions: []string{"pull"}}, rid) ||
		covers(g, token.Access{Type: "repository", Name: "a", Actions: []string{"push"}}, rid) ||
		!covers(g, token.Access{Type: "repository", Name: "b", Actions: []string{"push", "delete"}}, rid) ||
		covers(g, token.Access{Type: "repository", Name: "c", Actions: []string{"pull"}}, rid) {
		t.Fatal("covers")
	}
	// The same name on another registry (one created again under the old name) is not covered.
	if covers(g, token.Access{Type: "repository", Name: "a", Actions: []string{"pull"}}, "0f7c3f9e-0000-4000-8000-000000000000") {
		t.Fatal("an entry of one registry covers another of the same name")
	}
}
