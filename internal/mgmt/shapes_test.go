package mgmt_test

import (
	"net/http"
	"testing"
)

// TestSubnetsInCreationOrder: subnets list in the order they were created
// (az shows subnets[0] as the first one made), whatever their names sort as.
func TestSubnetsInCreationOrder(t *testing.T) {
	e := newEnv(t)
	e.must(t, http.StatusCreated, "PUT", vnetPath("order"), vnetBody([]string{"10.0.0.0/16"},
		namedSubnet("zeta", "10.0.1.0/24"), namedSubnet("alpha", "10.0.2.0/24")))
	e.must(t, http.StatusCreated, "PUT", subnetPath("order", "Mid"), subnetBody("10.0.3.0/24"))
	e.must(t, http.StatusCreated, "PUT", subnetPath("order", "beta"), subnetBody("10.0.4.0/24"))
	// Changing one keeps its place.
	e.must(t, http.StatusOK, "PUT", subnetPath("order", "zeta"), subnetBody("10.0.1.0/24", "Microsoft.ContainerRegistry"))
	want := []string{"zeta", "alpha", "Mid", "beta"}
	for _, path := range []string{vnetPath("order") + "/subnets", vnetPath("order")} {
		m := e.must(t, http.StatusOK, "GET", path, nil)
		key := []any{"value"}
		if path == vnetPath("order") {
			key = []any{"properties", "subnets"}
		}
		for i, name := range want {
			if got := get(t, m, append(key, i, "name")...); got != name {
				t.Errorf("GET %s: subnet %d is %v, want %s (order %v)", path, i, got, name, want)
			}
		}
	}
}
