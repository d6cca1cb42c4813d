package docker

import (
	"fmt"
	"testing"

	"github.com/moat-registry/moat/test/netns"
)

// serverSpec says how a moat server is run and reached.
type serverSpec struct {
	style string // "path" (plain HTTP) or "host" (TLS, login servers <registry>.<suffix>[:port])
	port  int
	// insecure: dockerd has the server's registries in --insecure-registry
	// (plain HTTP; with TLS, no certificate check and a fallback to HTTP)
	// instead of moat's CA in certs.d.
	insecure bool
	// shortTokens: the server's tokens live seconds, for the scenarios that
	// watch them expire (and only those run there).
	shortTokens bool
}

// servers are the moat servers the scenarios run against: path style on
// plain HTTP; host style with TLS on 443 (login servers <registry>.<suffix>)
// and on another port (<registry>.<suffix>:<port>), trusted through
// certs.d; host style with TLS that dockerd treats as an insecure registry;
// and one of each style with short-lived tokens.
var servers = []serverSpec{
	{style: "path", port: 5000, insecure: true},
	{style: "host", port: 443},
	{style: "host", port: 6204},
	{style: "host", port: 5443, insecure: true},
	{style: "path", port: 5001, insecure: true, shortTokens: true},
	{style: "host", port: 6205, shortTokens: true},
}

func (sp serverSpec) name() string {
	name := fmt.Sprintf("%s-style-%d", sp.style, sp.port)
	if sp.insecure && sp.style == "host" {
		name += "-insecure"
	}
	if sp.shortTokens {
		name += "-short-tokens"
	}
	return name
}

// TestDocker starts the network and one dockerd, then each moat server in
// turn, and runs its scenarios against it.
func TestDocker(t *testing.T) {
	dockerd, cli := Require(t)
	e := &env{net: netns.New(t, netSpec()), bin: moatBinary(t), cli: cli}
	e.client, e.moatHost = e.net.Host(netns.Internet), e.net.Host(netns.Moat)
	var insecure []string
	for _, sp := range servers {
		hosts := e.registryHosts(sp)
		if sp.style == "host" {
			e.addNames(t, hosts)
		}
		if sp.insecure {
			insecure = append(insecure, hosts...)
		}
	}
	e.daemon = StartDaemon(t, e.client, dockerd, insecure)
	t.Logf("dockerd %s, docker CLI %s", dockerd, cli)
	for _, sp := range servers {
		t.Run(sp.name(), func(t *testing.T) {
			if sp.shortTokens {
				// Their scenarios mostly wait for tokens to expire: together,
				// after the others (whose host names and CAs are in place
				// before dockerd starts, so nothing changes under it).
				t.Parallel()
			}
			s := e.startMoat(t, sp)
			for _, sc := range sp.scenarios() {
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
