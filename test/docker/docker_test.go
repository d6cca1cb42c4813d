package docker

import (
	"fmt"
	"testing"

	"github.com/moat-registry/moat/test/netns"
)

// servers are the moat servers every scenario runs against: path style on
// plain HTTP, host style with TLS on 443 (login servers <registry>.<suffix>)
// and on another port (<registry>.<suffix>:<port>), each trusted through
// certs.d, and host style with TLS that dockerd is told to treat as an
// insecure registry instead (no certs.d: it then tries HTTPS without
// verification, then plain HTTP).
var servers = []struct {
	style    string
	port     int
	insecure bool
}{
	{"path", 5000, true},
	{"host", 443, false},
	{"host", 6204, false},
	{"host", 5443, true},
}

// TestDocker starts the network and one dockerd, then each moat server in
// turn, and runs every scenario against it.
func TestDocker(t *testing.T) {
	dockerd, cli := Require(t)
	e := &env{net: netns.New(t, netSpec()), bin: moatBinary(t), cli: cli}
	e.client, e.moatHost = e.net.Host(netns.Internet), e.net.Host(netns.Moat)
	var insecure []string
	for _, srv := range servers {
		hosts := e.registryHosts(srv.style, srv.port)
		if srv.style == "host" {
			e.addNames(t, hosts)
		}
		if srv.insecure {
			insecure = append(insecure, hosts...)
		}
	}
	e.daemon = StartDaemon(t, e.client, dockerd, insecure)
	t.Logf("dockerd %s, docker CLI %s", dockerd, cli)
	for _, srv := range servers {
		name := fmt.Sprintf("%s-style-%d", srv.style, srv.port)
		if srv.insecure && srv.style == "host" {
			name += "-insecure"
		}
		t.Run(name, func(t *testing.T) {
			s := e.startMoat(t, srv.style, srv.port, srv.insecure)
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					t.Cleanup(func() {
						if t.Failed() {
							t.Log(s.logTail())
						}
					})
					sc.run(t, s, s.newRegistry(t, sc.name))
				})
			}
		})
	}
}
