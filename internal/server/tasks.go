package server

import (
	"context"
	"net"

	"github.com/moat-registry/moat/internal/auth/regauth"
	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/mgmt"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/tasks"
)

// wireTasks gives the management API the task runner and registry import
// (docs/tasks.md). Runs a previous process left queued or running are marked
// failed first.
func (s *Server) wireTasks(ctx context.Context, mg *mgmt.Handler, tokens *regauth.Service) error {
	s.tasks = &tasks.Service{Meta: s.meta}
	if err := s.tasks.Recover(ctx); err != nil {
		return err
	}
	mg.Tasks, mg.Mint = s.tasks, tokens.Mint
	return nil
}

// SetRunnerEndpoint tells the task runner and registry import where to reach
// this server's data plane (in-process tests; Run sets it from the listeners).
func (s *Server) SetRunnerEndpoint(scheme, addr string) {
	s.tasks.SetEndpoint(tasks.Endpoint{Scheme: scheme, Addr: addr})
}

// WaitRuns waits for the task runs started so far.
func (s *Server) WaitRuns() { s.tasks.Wait() }

// setRunnerEndpoint points the runner at the first public listener: the
// runner is a client of the data plane like any other, coming from loopback.
func (s *Server) setRunnerEndpoint(set *netid.Set) {
	addrs := set.Addrs()
	for i, l := range s.cfg.Listeners {
		if i >= len(addrs) || l.Kind != config.KindPublic {
			continue
		}
		host, port, err := net.SplitHostPort(addrs[i].String())
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "127.0.0.1"
			if ip != nil && ip.To4() == nil {
				host = "::1"
			}
		}
		scheme := "http"
		if s.cfg.TLSCert != "" || s.cfg.TLSAuto {
			scheme = "https"
		}
		s.SetRunnerEndpoint(scheme, net.JoinHostPort(host, port))
		return
	}
}
