package netid

import (
	"net/http"
	"testing"

	"github.com/moat-registry/moat/internal/config"
)

// The per-request cost of the identity: a trusted proxy with a three-hop
// X-Forwarded-For, and a virtual-network listener with topology lookups.
func BenchmarkResolve(b *testing.B) {
	pub, _ := compile(config.Listener{Name: "p", TrustedProxies: trustChain})
	vn, _ := compile(config.Listener{Name: "v", Kind: config.KindVirtualNetwork, VirtualNetwork: vnetID})
	h := http.Header{"X-Forwarded-For": {"203.0.113.7, 16.17.18.19, 10.1.1.1"}}
	peer, local := addr("127.0.0.1"), addr("10.77.0.1")
	b.Run("public-xff", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if id, ok := pub.resolve(nil, peer, local, nil, h); !ok || id.ClientIP != addr("16.17.18.19") {
				b.Fatal(id)
			}
		}
	})
	b.Run("vnet-service-endpoint", func(b *testing.B) {
		b.ReportAllocs()
		src := addr("10.77.1.10")
		for b.Loop() {
			if id, ok := vn.resolve(fakeTopo{}, src, local, nil, nil); !ok || id.Path != ServiceEndpoint {
				b.Fatal(id)
			}
		}
	})
}
