package mgmt

import (
	"strconv"
	"strings"

	"github.com/moat-registry/moat/internal/tasks"
)

// runsKind is a registry's runs: read-only resources that scheduleRun makes.
var runsKind = &kind[tasks.Run]{
	typ: typeRun, what: "run",
	parent: func(c *call) error {
		if err := c.h.tasksServed(); err != nil {
			return err
		}
		return registryParent(c)
	},
	load: func(c *call) (tasks.Run, int64, bool, error) {
		run, ok, err := c.h.Tasks.Get(c.ctx, c.parentID+"/runs/"+c.id.Name())
		if !ok || err != nil {
			return tasks.Run{}, 0, false, err
		}
		return *run, 0, true, nil
	},
	list:   listRuns,
	render: func(_ *call, run tasks.Run, _ int64) (any, error) { return run.Served(), nil },
}

// maxRunsTop bounds $top.
const maxRunsTop = 1000

// listRuns lists runs newest first, with ACR's $filter (as az acr task
// list-runs sends it: TaskName eq '...', Status eq '...',
// contains(OutputImageManifests, 'repo@digest'), joined by and) and $top.
func listRuns(c *call) ([]listed[tasks.Run], error) {
	q := c.r.URL.Query()
	match, err := parseRunFilter(q.Get("$filter"))
	if err != nil {
		return nil, err
	}
	top := maxRunsTop
	if s := q.Get("$top"); s != "" {
		if top, err = strconv.Atoi(s); err != nil || top < 1 || top > maxRunsTop {
			return nil, badRequest("InvalidTopInQueryString", "$top must be a whole number from 1 to %d", maxRunsTop)
		}
	}
	runs, err := c.h.Tasks.List(c.ctx, c.parentID)
	if err != nil {
		return nil, err
	}
	var out []listed[tasks.Run]
	for _, run := range runs {
		if len(out) < top && match(run) {
			out = append(out, listed[tasks.Run]{id: run.ID, s: *run})
		}
	}
	return out, nil
}

// maxFilter bounds a $filter.
const maxFilter = 1024

// parseRunFilter parses a runs $filter: clauses joined by " and ", each
// Name eq 'value' (TaskName, Status, RunId, RunType) or
// contains(OutputImageManifests, 'repository@digest'). Values compare
// case-insensitively.
func parseRunFilter(f string) (func(*tasks.Run) bool, error) {
	var clauses []func(*tasks.Run) bool
	if len(f) > maxFilter {
		return nil, badRequest("InvalidFilter", "the $filter is longer than %d characters", maxFilter)
	}
	for _, cl := range splitAnd(f) {
		m, err := runClause(strings.TrimSpace(cl))
		if err != nil {
			return nil, err
		}
		clauses = append(clauses, m)
	}
	return func(r *tasks.Run) bool {
		for _, m := range clauses {
			if !m(r) {
				return false
			}
		}
		return true
	}, nil
}

// splitAnd splits f at " and " outside quotes ("" gives none).
func splitAnd(f string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(f); i++ {
		switch {
		case f[i] == '\'':
			quoted = !quoted
		case !quoted && strings.HasPrefix(strings.ToLower(f[i:]), " and "):
			out = append(out, f[start:i])
			start, i = i+5, i+4
		}
	}
	if strings.TrimSpace(f) != "" {
		out = append(out, f[start:])
	}
	return out
}

var runFields = map[string]func(*tasks.Run) string{
	"taskname": func(r *tasks.Run) string { return r.Properties.Task },
	"status":   func(r *tasks.Run) string { return r.Properties.Status },
	"runid":    func(r *tasks.Run) string { return r.Properties.RunID },
	"runtype":  func(r *tasks.Run) string { return r.Properties.RunType },
}

func runClause(cl string) (func(*tasks.Run) bool, error) {
	bad := badRequest("InvalidFilter", "the $filter clause %q is not supported: use TaskName, Status, RunId or RunType eq 'value', or contains(OutputImageManifests, 'repository@digest'), joined by and", clipVersion(cl))
	if rest, ok := cutPrefixFold(cl, "contains("); ok {
		field, val, ok := strings.Cut(strings.TrimSuffix(rest, ")"), ",")
		v, quoted := unquote(strings.TrimSpace(val))
		if !ok || !strings.HasSuffix(rest, ")") || !strings.EqualFold(strings.TrimSpace(field), "OutputImageManifests") || !quoted {
			return nil, bad
		}
		return func(r *tasks.Run) bool {
			for _, o := range r.Properties.OutputImages {
				if strings.EqualFold(o.Repository+"@"+o.Digest, v) {
					return true
				}
			}
			return false
		}, nil
	}
	name, val, ok := strings.Cut(cl, " ")
	val, eq := cutPrefixFold(strings.TrimSpace(val), "eq ")
	v, quoted := unquote(strings.TrimSpace(val))
	get := runFields[strings.ToLower(name)]
	if !ok || !eq || !quoted || get == nil {
		return nil, bad
	}
	return func(r *tasks.Run) bool { return strings.EqualFold(get(r), v) }, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// unquote takes 'value' (with ” for a quote) to value.
func unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '\'' || s[len(s)-1] != '\'' {
		return "", false
	}
	inner := s[1 : len(s)-1]
	if strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
		return "", false
	}
	return strings.ReplaceAll(inner, "''", "'"), true
}
