package server

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/gc"
)

// openOps builds the audit trail and the request observer.
func (s *Server) openOps() error {
	s.auditLog = audit.New(s.meta, s.metrics, audit.Options{Retention: s.cfg.AuditRetention, RegistryID: func(key string) string {
		if reg, ok := s.index.Lookup(key); ok {
			return reg.UID
		}
		return ""
	}})
	s.gc = &gc.Collector{Meta: s.meta, Blobs: s.blobs, Grace: s.cfg.GC.Grace, UploadExpiry: s.cfg.Limits.UploadExpiry,
		Metrics: gc.NewMetrics(s.metrics), Audit: s.auditLog}
	s.obs = newObserver(s.metrics, s.auditLog, s.meta, s.dir)
	s.migrated.Store(true)
	return nil
}

// opsRoutes adds the health endpoints and wraps the handler with the observer.
func (s *Server) opsRoutes(mux *http.ServeMux, h http.Handler) http.Handler {
	mux.HandleFunc("/healthz", s.healthz)
	mux.HandleFunc("/readyz", s.readyz)
	return s.obs.wrap(h)
}

// startOps starts the audit writer and the garbage collection schedule; the
// returned stop ends the schedule and writes what is queued.
func (s *Server) startOps() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.auditLog.Run(ctx, time.Hour); close(done) }()
	gcDone := make(chan struct{})
	go func() {
		if every := s.cfg.GC.Interval; every > 0 {
			s.gc.Loop(ctx, every)
		}
		close(gcDone)
	}()
	return func() { cancel(); <-gcDone; <-done }
}

// loadCerts reads the TLS certificate when TLS is configured.
func (s *Server) loadCerts() error {
	if s.cfg.TLSCert == "" || s.certs != nil {
		return nil
	}
	c, err := newCertStore(s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return err
	}
	s.certs = c
	return nil
}

// reloadCerts re-reads the certificate files (SIGHUP).
func (s *Server) reloadCerts(cfg config.Config) error {
	if s.certs == nil {
		if cfg.TLSCert != "" {
			slog.Warn("TLS certificates configured after start are used after a restart")
		}
		return nil
	}
	return s.certs.reload(cfg.TLSCert, cfg.TLSKey)
}

// auditView is the management API's audit trail: the events, and the
// network denials of netguard as events of type denial.
type auditView struct{ s *Server }

// Events: a registry's events are those of this registry, not of an earlier one of
// the same name: events carry the registry's UID (those written before
// registries had one count from the registry's creation), and the denial
// aggregates (per minute, keyed by name) count from the minute of creation.
func (v auditView) Events(ctx context.Context, regKey string, since time.Time, typ string) ([]audit.Event, error) {
	mine := func(string, time.Time) bool { return true }
	if reg, ok := v.s.index.Lookup(regKey); ok && regKey != audit.ServerWide {
		mine = func(uid string, at time.Time) bool {
			return uid == reg.UID || uid == "" && !at.Before(reg.CreatedAt)
		}
	}
	var out []audit.Event
	if typ != audit.TypeDenial {
		evs, err := v.s.auditLog.List(ctx, regKey, since, typ)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if mine(e.RegistryID, e.Time) {
				out = append(out, e)
			}
		}
	}
	if typ == "" || typ == audit.TypeDenial {
		ds, err := v.s.audit.List(ctx, regKey, since)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if !mine("", d.LastSeen) {
				continue
			}
			out = append(out, audit.Event{Time: d.LastSeen, Registry: d.Registry, Type: audit.TypeDenial, Outcome: audit.Failure,
				ClientIP: d.ClientIP, NetworkPath: d.Path, Reason: d.Reason, Count: d.Count,
				Detail: "route " + d.Route + denialWhere(d.Subnet, d.PrivateEndpoint) + ", first seen " + d.FirstSeen.Format(time.RFC3339)})
		}
		sortEvents(out)
	}
	if out == nil {
		out = []audit.Event{}
	}
	return out, nil
}

func denialWhere(subnet, pe string) string {
	switch {
	case subnet != "":
		return " from subnet " + subnet
	case pe != "":
		return " through private endpoint " + pe
	}
	return ""
}

func sortEvents(evs []audit.Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.After(evs[j].Time) })
}

// tlsConfig is the listeners' TLS configuration (nil: plain HTTP).
func (s *Server) tlsConfig() *tls.Config {
	if s.certs == nil {
		return nil
	}
	return s.certs.config()
}
