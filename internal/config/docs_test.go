package config

import (
	"cmp"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestDocsListEverySetting: every setting is in a configuration table of
// README.md, docs/operations.md or docs/security.md, on a row that names its
// flag, its variable, its YAML key and its default as they are.
func TestDocsListEverySetting(t *testing.T) {
	var rows []string
	for _, f := range []string{"../../README.md", "../../docs/operations.md", "../../docs/security.md"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "| ") {
				rows = append(rows, line)
			}
		}
	}
	for _, s := range settings {
		key := ""
		if s.key != "" {
			key = "`" + s.key[strings.LastIndex(s.key, ".")+1:]
		}
		name := cmp.Or("`--"+s.flag, key, s.env) // the row is found by the flag, else the YAML key, else the variable
		if s.flag == "" {
			name = cmp.Or(key, s.env)
		}
		row := find(rows, name)
		if row == "" {
			t.Errorf("no documentation table row names %s (%s)", name, s.where())
			continue
		}
		for _, want := range []string{s.env, key} {
			if want != "" && find([]string{row}, want) == "" {
				t.Errorf("the row of %s does not name %s:\n%s", s.where(), want, row)
			}
		}
		if s.def != "" && fieldType(s).Kind() != reflect.Slice || fieldType(s) == listenersType {
			if !strings.Contains(strings.ReplaceAll(row, ",", ""), s.def) {
				t.Errorf("the row of %s does not give its default %s:\n%s", s.where(), s.def, row)
			}
		}
	}
}

// find returns the first row naming name as a whole word.
func find(rows []string, name string) string {
	for _, r := range rows {
		for rest := r; ; {
			i := strings.Index(rest, name)
			if i < 0 {
				break
			}
			if rest = rest[i+len(name):]; rest == "" || strings.ContainsRune("`: ,", rune(rest[0])) {
				return r
			}
		}
	}
	return ""
}
