package netid

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/moat-registry/moat/internal/config"
)

// DefaultDrainTimeout is how long a removed listener's in-flight requests may
// run before their connections are closed.
const DefaultDrainTimeout = 30 * time.Second

// SetOptions configure a Set.
type SetOptions struct {
	// Handler serves every listener, behind Middleware.
	Handler http.Handler
	// Topology answers the virtual-network questions (nil: no network known).
	Topology Topology
	// NewServer, if set, makes the http.Server of a listener (timeouts,
	// ErrorLog, TLSConfig...). The Set wraps its Handler (Handler above when
	// nil) with Middleware and chains ConnContext after its ConnContext.
	NewServer func(config.Listener) *http.Server
	// CertFile and KeyFile, when set, serve HTTPS (http.Server.ServeTLS). A
	// server from NewServer whose TLSConfig has certificates also serves HTTPS.
	CertFile, KeyFile string
	// DrainTimeout bounds in-flight requests on removed listeners
	// (DefaultDrainTimeout when zero).
	DrainTimeout time.Duration
}

// Set owns the running listeners of a server and applies listener
// configuration changes without a restart. Apply and Shutdown serialise on a
// mutex; requests never touch it.
type Set struct {
	opts  SetOptions
	errc  chan error
	wg    sync.WaitGroup
	mu    sync.Mutex
	live  map[string]*served // by configured address
	order []string           // configured addresses, in configuration order
	shut  bool
	// draining are the servers of removed listeners still finishing requests.
	draining map[*http.Server]bool
}

type served struct {
	ln  *Listener
	srv *http.Server
}

// NewSet returns an empty Set; Apply starts its listeners.
func NewSet(opts SetOptions) *Set {
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	return &Set{opts: opts, errc: make(chan error, 8), live: map[string]*served{}, draining: map[*http.Server]bool{}}
}

// Apply makes ls the running configuration, matching listeners by address:
// a new address is opened and served; an address no longer configured stops
// accepting at once while its in-flight requests finish (up to DrainTimeout);
// an address still configured keeps its socket and connections and takes the
// new name, kind, trusted proxies and virtual network atomically. Changing a
// listener's address string is a removal plus an addition (open before close:
// moving to a spelling of the same socket, like ":5000" -> "0.0.0.0:5000",
// needs two reloads).
//
// Apply is all or nothing: when a listener is invalid or cannot be opened,
// nothing changes and the error says which.
func (s *Set) Apply(ls []config.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return errors.New("netid: listener set is shut down")
	}
	seen := map[string]bool{}
	for _, l := range ls {
		if seen[l.Address] {
			return fmt.Errorf("listener %s: address %s is used by another listener", l.Name, l.Address)
		}
		seen[l.Address] = true
		if _, err := compile(l); err != nil {
			return err
		}
	}
	opened := map[string]*Listener{}
	for _, l := range ls {
		if s.live[l.Address] != nil {
			continue
		}
		ln, err := Listen(l, s.opts.Topology)
		if err != nil {
			for _, o := range opened {
				o.Close()
			}
			return err
		}
		opened[l.Address] = ln
	}
	order := make([]string, 0, len(ls))
	for _, l := range ls {
		order = append(order, l.Address)
		if sv := s.live[l.Address]; sv != nil {
			_ = sv.ln.Update(l) // validated above
			continue
		}
		s.live[l.Address] = s.serve(l, opened[l.Address])
	}
	for addr, sv := range s.live {
		if !seen[addr] {
			delete(s.live, addr)
			s.drain(sv)
		}
	}
	s.order = order
	return nil
}

// serve starts an http.Server on ln.
func (s *Set) serve(l config.Listener, ln *Listener) *served {
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second}
	if s.opts.NewServer != nil {
		srv = s.opts.NewServer(l)
	}
	h := srv.Handler
	if h == nil {
		h = s.opts.Handler
	}
	if h == nil {
		h = http.NotFoundHandler()
	}
	srv.Handler = Middleware(h)
	if prev := srv.ConnContext; prev != nil {
		srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			return ConnContext(prev(ctx, c), c)
		}
	} else {
		srv.ConnContext = ConnContext
	}
	tlsOn := s.opts.CertFile != "" || (srv.TLSConfig != nil &&
		(len(srv.TLSConfig.Certificates) > 0 || srv.TLSConfig.GetCertificate != nil || srv.TLSConfig.GetConfigForClient != nil))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var err error
		if tlsOn {
			err = srv.ServeTLS(ln, s.opts.CertFile, s.opts.KeyFile)
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case s.errc <- fmt.Errorf("listener %s: %w", ln.Name(), err):
			default:
			}
		}
	}()
	return &served{ln: ln, srv: srv}
}

// drain stops a removed listener: no new connections, idle ones closed,
// active ones closed after DrainTimeout.
// Called with s.mu held.
func (s *Set) drain(sv *served) {
	s.draining[sv.srv] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.DrainTimeout)
		defer cancel()
		if sv.srv.Shutdown(ctx) != nil {
			sv.srv.Close()
		}
		s.mu.Lock()
		delete(s.draining, sv.srv)
		s.mu.Unlock()
	}()
}

// Errors reports listeners that stopped serving on their own (the first few).
func (s *Set) Errors() <-chan error { return s.errc }

// Listeners are the running listeners in configuration order.
func (s *Set) Listeners() []*Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Listener, 0, len(s.order))
	for _, a := range s.order {
		out = append(out, s.live[a].ln)
	}
	return out
}

// Addrs are the bound addresses of the running listeners, in configuration
// order (useful with port 0).
func (s *Set) Addrs() []net.Addr {
	var out []net.Addr
	for _, l := range s.Listeners() {
		out = append(out, l.Addr())
	}
	return out
}

// Shutdown stops every listener gracefully: it stops accepting, lets in-flight
// requests finish until ctx ends (then closes their connections), and waits
// for all serving and draining to end. The Set cannot be used afterwards.
func (s *Set) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shut = true
	live := s.live
	s.live, s.order = map[string]*served{}, nil
	s.mu.Unlock()
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, sv := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sv.srv.Shutdown(ctx); err != nil {
				sv.srv.Close()
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for srv := range s.draining {
			srv.Close()
		}
		s.mu.Unlock()
		<-done
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}
