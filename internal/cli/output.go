package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// Output follows az (knack): --query first, then the --output format.
//   - json: indented, keys sorted; yaml likewise.
//   - table: the command's table transformer (az's table_transformer) when
//     there is no --query; else the automatic table: one column per scalar
//     field (id, type and etag left out), keys sorted, or in --query order.
//   - tsv: one line per item, the values of an object sorted by key (or in
//     --query order); a nested list prints as its length, a nested object as
//     an empty field, null as None, booleans as True/False (a bare boolean as
//     true/false).
//   - none: nothing.
// A null result prints nothing.

// row is one table row: ordered (column, value) cells.
type row []cell

type cell struct {
	col string
	val any
}

// tableFunc turns a command's result into table rows (az's table_transformer).
type tableFunc func(result any) []row

// render prints result (generic JSON, or anything that marshals to JSON) in
// the --output format after applying --query.
func render(cmd *cobra.Command, result any, table tableFunc) error {
	format, _ := cmd.Flags().GetString("output")
	expr, _ := cmd.Flags().GetString("query")
	v, err := generic(result)
	if err != nil {
		return err
	}
	var q *query
	if expr != "" {
		if q, err = compileQuery(expr); err != nil {
			return err
		}
		if v, err = q.search(v); err != nil {
			return err
		}
		table = nil
	}
	w := cmd.OutOrStdout()
	switch strings.ToLower(format) {
	case "none":
		return nil
	case "json", "jsonc", "":
		if v == nil {
			return nil
		}
		return writeJSON(w, v)
	case "yaml", "yamlc":
		if v == nil {
			return nil
		}
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		_, err := w.Write(buf.Bytes())
		return err
	case "tsv":
		return writeTSV(w, v, q)
	case "table":
		if v == nil {
			return nil
		}
		var rows []row
		if table != nil {
			rows = table(v)
		} else {
			rows = autoTable(v, q)
		}
		return writeTable(w, rows)
	}
	return fmt.Errorf("--output %q: use json, jsonc, yaml, yamlc, table, tsv or none", format)
}

var outputFormats = []string{"json", "jsonc", "yaml", "yamlc", "table", "tsv", "none"}

// checkOutputFlags validates --output and --query before a command runs.
func checkOutputFlags(cmd *cobra.Command) error {
	format, _ := cmd.Flags().GetString("output")
	ok := false
	for _, f := range outputFormats {
		ok = ok || strings.EqualFold(format, f)
	}
	if !ok {
		return fmt.Errorf("--output %q: use json, jsonc, yaml, yamlc, table, tsv or none", format)
	}
	if expr, _ := cmd.Flags().GetString("query"); expr != "" {
		if _, err := compileQuery(expr); err != nil {
			return err
		}
	}
	return nil
}

// generic converts v to generic JSON (maps, slices, float64, string, bool, nil).
func generic(v any) (any, error) {
	switch v.(type) {
	case nil, string, bool, float64, map[string]any, []any:
		return v, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(raw, &out)
	return out, err
}

func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// autoTable is knack's automatic table.
func autoTable(v any, q *query) []row {
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	rows := make([]row, 0, len(items))
	for _, it := range items {
		var r row
		switch x := it.(type) {
		case map[string]any:
			for _, k := range q.keyOrder(x) {
				if k == "id" || k == "type" || k == "etag" || !isScalar(x[k]) || x[k] == nil {
					continue
				}
				r = append(r, cell{capitalize(k), x[k]})
			}
		case []any:
			for i, e := range x {
				r = append(r, cell{"Column" + strconv.Itoa(i+1), e})
			}
		default:
			r = row{{"Result", x}}
		}
		rows = append(rows, r)
	}
	return rows
}

func isScalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return strings.ToUpper(string(r)) + s[n:]
}

// writeTable prints rows as tabulate's "simple" format, as az does: a header,
// a rule of dashes as wide as each column, two spaces between columns. A
// column is at least its header plus two wide.
func writeTable(w io.Writer, rows []row) error {
	if len(rows) == 0 {
		return nil
	}
	var cols []string
	seen := map[string]bool{}
	for _, r := range rows {
		for _, c := range r {
			if !seen[c.col] {
				seen[c.col] = true
				cols = append(cols, c.col)
			}
		}
	}
	if len(cols) == 0 {
		return fmt.Errorf("unable to extract fields for table: select fields with --query, or use --output json")
	}
	cells := make([][]string, len(rows))
	width := make([]int, len(cols))
	for j, c := range cols {
		width[j] = utf8.RuneCountInString(c) + 2
	}
	for i, r := range rows {
		vals := map[string]string{}
		for _, c := range r {
			vals[c.col] = tableText(c.val)
		}
		cells[i] = make([]string, len(cols))
		for j, c := range cols {
			cells[i][j] = vals[c]
			width[j] = max(width[j], utf8.RuneCountInString(vals[c]))
		}
	}
	var b strings.Builder
	line := func(fields []string) {
		var l strings.Builder
		for j, f := range fields {
			if j > 0 {
				l.WriteString("  ")
			}
			l.WriteString(f)
			l.WriteString(strings.Repeat(" ", width[j]-utf8.RuneCountInString(f)))
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	line(cols)
	rule := make([]string, len(cols))
	for j := range cols {
		rule[j] = strings.Repeat("-", width[j])
	}
	line(rule)
	for _, r := range cells {
		line(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// tableText is a cell as Python's str() prints it (None as empty).
func tableText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return formatNumber(x)
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}

func formatNumber(f float64) string {
	if f == float64(int64(f)) && f < 1e15 && f > -1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// writeTSV is knack's tsv output.
func writeTSV(w io.Writer, v any, q *query) error {
	if v == nil {
		return nil
	}
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	var b strings.Builder
	for _, it := range items {
		var fields []string
		switch x := it.(type) {
		case map[string]any:
			for _, k := range q.keyOrder(x) {
				fields = append(fields, tsvField(x[k]))
			}
		case []any:
			for _, e := range x {
				fields = append(fields, tsvField(e))
			}
		case bool:
			fields = []string{strconv.FormatBool(x)}
		default:
			fields = []string{tsvField(x)}
		}
		b.WriteString(strings.Join(fields, "\t"))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func tsvField(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case []any:
		return strconv.Itoa(len(x))
	case map[string]any:
		return ""
	}
	return tableText(v)
}
