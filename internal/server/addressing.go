package server

import (
	"net"
	"net/url"

	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/network/netid"
)

// setAddressing gives the data plane the login-server suffix (fixed at
// start) and the port clients dial: the configured public URL's when one is
// set (a load balancer in front), else that of the first public listener of
// ls: its bound port when set runs them (port 0 is known only then, and
// SIGHUP may move it), else the configured one. Host-style login servers
// carry that port unless it is 443 or 80, and a port in the suffix wins
// (docs/registry.md).
func (s *Server) setAddressing(ls []config.Listener, set *netid.Set) error {
	var bound []net.Addr
	if set != nil {
		bound = set.Addrs()
	}
	port := ""
	if s.cfg.PublicURL != "" {
		if u, err := url.Parse(s.cfg.PublicURL); err == nil {
			if port = u.Port(); port == "" {
				port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
			}
			ls = nil
		}
	}
	for i, l := range ls {
		if l.Kind != config.KindPublic {
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
