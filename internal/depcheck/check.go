package depcheck

import (
	"fmt"
	"slices"
	"strings"
)

// Graph maps each package's import path to the import paths it imports.
type Graph map[string][]string

// Violation is one forbidden import: Chain runs from the checked package to
// the forbidden one.
type Violation struct {
	Rule  string
	Chain []string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s", v.Rule, strings.Join(v.Chain, " -> "))
}

// Check returns every violation of rules in g, one per (package, forbidden
// package) pair, with the shortest import chain that leads there, leaving
// out chains that another reported violation already explains.
func Check(g Graph, rules []Rule) []Violation {
	var out []Violation
	pkgs := make([]string, 0, len(g))
	for p := range g {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	for _, r := range rules {
		for _, p := range pkgs {
			if !matchAny(r.From, p) {
				continue
			}
			for _, chain := range reach(g, p, r.Direct) {
				if matchAny(r.Forbid, chain[len(chain)-1]) && !reportedElsewhere(r, chain) {
					out = append(out, Violation{Rule: r.Name, Chain: chain})
				}
			}
		}
	}
	return out
}

// reportedElsewhere reports whether chain passes through a forbidden
// package (its own imports add nothing) or through another package the rule
// checks (which is reported with the shorter chain).
func reportedElsewhere(r Rule, chain []string) bool {
	for _, p := range chain[1 : len(chain)-1] {
		if matchAny(r.Forbid, p) || matchAny(r.From, p) {
			return true
		}
	}
	return false
}

// reach lists, for every package from reaches (only its own imports when
// direct), the shortest import chain from it, breadth first.
func reach(g Graph, from string, direct bool) [][]string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	var chains [][]string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, q := range g[p] {
			if _, seen := prev[q]; seen {
				continue
			}
			prev[q] = p
			chain := []string{q}
			for at := p; at != ""; at = prev[at] {
				chain = append([]string{at}, chain...)
			}
			chains = append(chains, chain)
			if !direct {
				queue = append(queue, q)
			}
		}
	}
	return chains
}

func matchAny(patterns []string, path string) bool {
	for _, pat := range patterns {
		if match(pat, path) {
			return true
		}
	}
	return false
}

// match reports whether path matches pattern (see Rule).
func match(pattern, path string) bool {
	for _, local := range []string{"internal/", "cmd/", "tools/", "test/"} {
		if strings.HasPrefix(pattern, local) {
			pattern = Module + "/" + pattern
			break
		}
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}
