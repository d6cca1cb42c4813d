package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// renderString renders a JSON document with --output and --query as a command would.
func renderString(t *testing.T, doc, output, query string, table tableFunc) (string, error) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	cmd := &cobra.Command{}
	cmd.Flags().String("output", output, "")
	cmd.Flags().String("query", query, "")
	var out bytes.Buffer
	cmd.SetOut(&out)
	err := render(cmd, v, table)
	return out.String(), err
}

const vnets = `[
 {"name": "vnet1", "location": "westus", "id": "/x", "subnets": [{"name": "s1"}, {"name": "s2"}], "enabled": true, "count": 3, "none": null},
 {"name": "vnet2", "location": "eastus", "id": "/y", "subnets": [], "enabled": false, "count": 1.5, "none": null}
]`

func TestQuery(t *testing.T) {
	tests := []struct{ name, output, query, want string }{
		{"json keeps az's sorted keys", "json", "[].{Subnet: subnets[0].name, Name: name}",
			"[\n  {\n    \"Name\": \"vnet1\",\n    \"Subnet\": \"s1\"\n  },\n  {\n    \"Name\": \"vnet2\",\n    \"Subnet\": null\n  }\n]\n"},
		{"table keeps the query's key order", "table", "[].{Subnet: subnets[0].name, Name: name}",
			"Subnet    Name\n--------  ------\ns1        vnet1\n          vnet2\n"},
		{"tsv keeps the query's key order, null is None", "tsv", "[].{Subnet: subnets[0].name, Name: name}",
			"s1\tvnet1\nNone\tvnet2\n"},
		{"a string", "tsv", "[0].name", "vnet1\n"},
		{"a string as json", "json", "[0].name", "\"vnet1\"\n"},
		{"a bare boolean in tsv", "tsv", "[0].enabled", "true\n"},
		{"booleans in a row", "tsv", "[].[name, enabled]", "vnet1\tTrue\nvnet2\tFalse\n"},
		{"numbers", "tsv", "[].count", "3\n1.5\n"},
		{"a list of strings", "tsv", "[].name", "vnet1\nvnet2\n"},
		{"a list of strings as a table", "table", "[].name", "Result\n--------\nvnet1\nvnet2\n"},
		{"lists of lists as a table", "table", "[].[name, location]", "Column1    Column2\n---------  ---------\nvnet1      westus\nvnet2      eastus\n"},
		{"a function", "json", "length(@)", "2\n"},
		{"a filter", "tsv", "[?location=='eastus'].name", "vnet2\n"},
		{"nothing found prints nothing", "json", "[0].nothere", ""},
		{"nothing found prints nothing in tsv", "tsv", "[0].nothere", ""},
		{"output none", "none", "", ""},
		{"yaml", "yaml", "[0].{nm: name}", "nm: vnet1\n"},
		{"jsonc", "jsonc", "[1].location", "\"eastus\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderString(t, vnets, tt.output, tt.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestAutoTable(t *testing.T) {
	// No query: keys sorted, id/type/etag, nulls and nested values left out,
	// columns at least header+2 wide, booleans as Python prints them.
	got, err := renderString(t, vnets, "table", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "Count    Enabled    Location    Name\n" +
		"-------  ---------  ----------  ------\n" +
		"3        True       westus      vnet1\n" +
		"1.5      False      eastus      vnet2\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// tsv without a query: values sorted by key; a list prints as its length, an object as empty.
	got, _ = renderString(t, `{"b": [1,2], "a": "x", "c": {"k": 1}, "d": null}`, "tsv", "", nil)
	if got != "x\t2\t\tNone\n" {
		t.Errorf("tsv: %q", got)
	}
	// A table transformer is used without --query and skipped with it.
	tf := perItem(func(o any) row { return row{{"NAME", str(o, "name")}} })
	got, _ = renderString(t, vnets, "table", "", tf)
	if got != "NAME\n------\nvnet1\nvnet2\n" {
		t.Errorf("transformer: %q", got)
	}
	got, _ = renderString(t, vnets, "table", "[].{L: location}", tf)
	if got != "L\n------\nwestus\neastus\n" {
		t.Errorf("transformer with --query: %q", got)
	}
	if _, err := renderString(t, `[{"a": [1]}]`, "table", "", nil); err == nil || !strings.Contains(err.Error(), "unable to extract fields") {
		t.Errorf("a table without scalar fields: %v", err)
	}
}

func TestQueryErrors(t *testing.T) {
	if _, err := renderString(t, vnets, "json", "[?", nil); err == nil || !strings.Contains(err.Error(), "not a valid JMESPath expression") {
		t.Errorf("bad query: %v", err)
	}
	if _, err := renderString(t, vnets, "json", "abs('x')", nil); err == nil {
		t.Error("a query that fails at run time was accepted")
	}
	if _, err := renderString(t, vnets, "xml", "", nil); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Errorf("bad output: %v", err)
	}
}

func TestAzView(t *testing.T) {
	v := azView(map[string]any{
		"id":         "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v",
		"name":       "v",
		"properties": map[string]any{"name": "not this", "subnets": []any{map[string]any{"id": "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v/subnets/a", "properties": map[string]any{"addressPrefix": "10.0.0.0/24"}}}},
	})
	want := `{"id":"/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v","name":"v","resourceGroup":"RG",` +
		`"subnets":[{"addressPrefix":"10.0.0.0/24","id":"/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v/subnets/a","resourceGroup":"RG"}]}`
	if raw, _ := json.Marshal(v); string(raw) != want {
		t.Errorf("got %s", raw)
	}
	// A resource group's own ID is too short for a resourceGroup field, as in az.
	g := azView(map[string]any{"id": "/subscriptions/s/resourceGroups/RG"}).(map[string]any)
	if _, ok := g["resourceGroup"]; ok {
		t.Errorf("resource group got a resourceGroup: %v", g)
	}
}
