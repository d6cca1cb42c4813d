package policy

import (
	"fmt"
	"testing"

	"github.com/moat-registry/moat/internal/network/netid"
)

// BenchmarkDecide: 200 IP rules and 100 virtual-network rules, the client
// allowed by the last IP rule (the benchmark set-up).
func BenchmarkDecide(b *testing.B) {
	var ips, subnets []string
	for i := range 200 {
		ips = append(ips, fmt.Sprintf("%d.%d.0.0/16", 20+i/200, i%200))
	}
	for i := range 100 {
		subnets = append(subnets, fmt.Sprintf("/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v%d/subnets/s", i))
	}
	r := compileJSON(props("Enabled", "Deny", ips, subnets, "AzureServices", false), nil)
	cases := map[string]netid.Identity{
		"last-ip-rule": pub("20.199.1.2"),
		"subnet-rule":  svc(subnets[99], "10.0.0.5"),
		"denied":       pub("8.8.8.8"),
		"other-ip":     pub("20.0.0.1"),
	}
	for name, id := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Decide(r, id, nil, DefaultTrusted)
			}
		})
	}
}
