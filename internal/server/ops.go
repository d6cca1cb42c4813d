package server

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/gc"
	"github.com/moat-registry/moat/internal/network/netguard"
	"github.com/moat-registry/moat/internal/network/ruleexpiry"
	"github.com/moat-registry/moat/internal/store/meta"
)

// openOps builds the audit trail and the request observer.
func (s *Server) openOps() error {
	s.obs = newObserver(s.metrics)
	s.auditLog = audit.New(s.meta, s.metrics, audit.Options{Retention: s.cfg.AuditRetention,
		RegistryID: func(key string) string {
			if reg, ok := s.index.Lookup(key); ok {
				return reg.UID
			}
			return ""
		},
		Source:        requestSource,
		PrincipalName: s.principalName,
		Decode: map[string]func(*meta.AuditRecord) (audit.Event, error){netguard.RecordType: denialEvent,
			netguard.DisagreementType: disagreementEvent},
	})
	s.gc = &gc.Collector{Meta: s.meta, Blobs: s.blobs, Grace: s.cfg.GC.Grace, UploadExpiry: s.cfg.Limits.UploadExpiry,
		Metrics: gc.NewMetrics(s.metrics), Audit: s.recorder()}
	s.migrated.Store(true)
	return nil
}

// opsRoutes adds the health endpoints and wraps the handler with the observer.
func (s *Server) opsRoutes(mux *http.ServeMux, h http.Handler) http.Handler {
	mux.HandleFunc("/healthz", s.healthz)
	mux.HandleFunc("/readyz", s.readyz)
	return s.obs.wrap(s.index, h)
}

// startOps starts the audit writer, the garbage collection schedule and the
// sweep of expired IP rules; the returned stop ends them and writes what is
// queued.
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
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	sweepDone := make(chan struct{})
	go func() {
		(&ruleexpiry.Sweeper{Store: s.meta, Index: s.index, Audit: s.auditLog}).Loop(sweepCtx, expirySweepEvery)
		close(sweepDone)
	}()
	// The sweep stops first: the audit writer then writes what it recorded.
	return func() { stopSweep(); <-sweepDone; cancel(); <-gcDone; <-done }
}

// expirySweepEvery is how often a node looks for expired IP rules to remove
// from the stored settings (they stop matching at their expiry regardless).
const expirySweepEvery = time.Second

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

// tlsConfig is the listeners' TLS configuration (nil: plain HTTP).
func (s *Server) tlsConfig() *tls.Config {
	if s.certs == nil {
		return nil
	}
	return s.certs.config()
}
