package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// print writes v in the --output format. columns names the table/tsv columns
// as (header, JSON path) pairs.
func print(cmd *cobra.Command, v any, columns [][2]string) error {
	format, _ := cmd.Flags().GetString("output")
	w := cmd.OutOrStdout()
	switch format {
	case "none":
		return nil
	case "json", "":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "table", "tsv":
		rows, err := toRows(v)
		if err != nil {
			return err
		}
		return writeTable(w, format == "tsv", rows, columns)
	}
	return fmt.Errorf("--output %q: use json, table, tsv or none", format)
}

// toRows turns a value (object or list) into generic JSON objects.
func toRows(v any) ([]map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var list []map[string]any
	if json.Unmarshal(raw, &list) == nil {
		return list, nil
	}
	var one map[string]any
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, err
	}
	return []map[string]any{one}, nil
}

func lookup(m map[string]any, path string) string {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = obj[k]
	}
	if cur == nil {
		return ""
	}
	return fmt.Sprint(cur)
}

func writeTable(w io.Writer, tsv bool, rows []map[string]any, columns [][2]string) error {
	if columns == nil && len(rows) > 0 {
		for k := range rows[0] {
			columns = append(columns, [2]string{k, k})
		}
		sort.Slice(columns, func(i, j int) bool { return columns[i][0] < columns[j][0] })
	}
	if tsv {
		for _, r := range rows {
			var f []string
			for _, c := range columns {
				f = append(f, lookup(r, c[1]))
			}
			fmt.Fprintln(w, strings.Join(f, "\t"))
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var head, rule []string
	for _, c := range columns {
		head = append(head, c[0])
		rule = append(rule, strings.Repeat("-", len(c[0])))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	fmt.Fprintln(tw, strings.Join(rule, "\t"))
	for _, r := range rows {
		var f []string
		for _, c := range columns {
			f = append(f, lookup(r, c[1]))
		}
		fmt.Fprintln(tw, strings.Join(f, "\t"))
	}
	return tw.Flush()
}
