package server

import (
	"net"

	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/netid"
)

// setAddressing gives the data plane the login-server suffix (fixed at
// start) and the port of the first public listener of ls: its bound port
// when set runs them (port 0 is known only then, and SIGHUP may move it),
// else the configured one. Host-style login servers carry that port unless
// it is 443 or 80 (docs/registry.md).
func (s *Server) setAddressing(ls []config.Listener, set *netid.Set) error {
	var bound []net.Addr
	if set != nil {
		bound = set.Addrs()
	}
	port := ""
	for i, l := range ls {
		if l.Kind != "" && l.Kind != config.KindPublic {
			continue
		}
		addr := l.Address
		if i < len(bound) {
			addr = bound[i].String()
		}
		_, port, _ = net.SplitHostPort(addr)
		break
	}
	a, err := addressing.New(s.cfg.LoginServerSuffix, port)
	if err != nil {
		return err
	}
	s.index.SetAddressing(a)
	return nil
}
