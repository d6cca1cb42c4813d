package resid

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	id, err := Parse("/subscriptions/s1/resourceGroups/Default/providers/Microsoft.ContainerRegistry/registries/reg1/privateEndpointConnections/c1")
	if err != nil {
		t.Fatal(err)
	}
	if id.Subscription != "s1" || id.ResourceGroup != "Default" || !id.Is("microsoft.containerregistry", "REGISTRIES", "privateEndpointConnections") || id.Name() != "c1" {
		t.Fatalf("%+v", id)
	}
	coll, err := Parse("/subscriptions/s1/providers/Microsoft.ContainerRegistry/registries")
	if err != nil || !coll.IsCollection() || coll.ResourceGroup != "" || !coll.Is("Microsoft.ContainerRegistry", "registries") {
		t.Fatalf("%+v %v", coll, err)
	}
	for _, bad := range []string{"", "/", "/subscriptions", "/tenants/x", "/subscriptions/s//x", "/subscriptions/s/resourceGroups/rg/foo",
		"/subscriptions/s/resourceGroups/../providers/x", "/subscriptions/s/resourceGroups/rg/providers"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s")
	f.Add("/subscriptions/s1/providers/Microsoft.ContainerRegistry/registries")
	f.Fuzz(func(t *testing.T, p string) {
		id, err := Parse(p)
		if err != nil {
			return
		}
		if id.Subscription == "" || len(id.Names) > len(id.Types) || len(id.Types) > len(id.Names)+1 {
			t.Fatalf("inconsistent parse of %q: %+v", p, id)
		}
		for _, n := range append(id.Names, id.Subscription, id.ResourceGroup) {
			if strings.Contains(n, "/") || n == ".." {
				t.Fatalf("segment %q escaped parsing of %q", n, p)
			}
		}
	})
}
