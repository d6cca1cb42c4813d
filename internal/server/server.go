// Package server wires configuration, stores and handlers into running listeners.
package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/acrapi"
	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/auth/authority"
	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/auth/regauth"
	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/gc"
	"github.com/moat-registry/moat/internal/mgmt"
	"github.com/moat-registry/moat/internal/network/netguard"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/oci"
	"github.com/moat-registry/moat/internal/portal"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store"
	"github.com/moat-registry/moat/internal/store/blob"
	blobfs "github.com/moat-registry/moat/internal/store/blob/fs"
	blobs3 "github.com/moat-registry/moat/internal/store/blob/s3"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/postgres"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
	"github.com/moat-registry/moat/internal/target"
	"github.com/moat-registry/moat/internal/tasks"
	"github.com/prometheus/client_golang/prometheus"
)

// Server is a configured moat server.
type Server struct {
	cfg          config.Config
	meta         meta.Store
	blobs        blob.Store
	blobsReady   func(context.Context) error // the readiness probe of the blob store
	index        *regindex.Index             // the registries' data-plane snapshot (with network rules and topology)
	subscription string
	tenant       string
	keys         *token.Keys
	dir          *identity.Directory
	authz        *rbac.Authorizer
	denials      *netguard.DenialLog
	traffic      *netguard.TrafficLog
	metrics      *prometheus.Registry
	handler      http.Handler
	listeners    *netid.Set
	tasks        *tasks.Service
	// Operations (ops.go): audit trail, request observer, TLS certificates.
	auditLog *audit.Log
	gc       *gc.Collector
	obs      *observer
	certs    *certStore
	migrated atomic.Bool
	// storeErrs counts the stores' failures (package store).
	storeErrs *store.Errors
	// stopFollow ends following the store's changes (follow.go).
	stopFollow context.CancelFunc
	// Notices are what the first start tells the operator (how to sign in).
	Notices []string
}

// New opens the stores in cfg.DataDir and builds the handlers. cfg is
// config.Load's, or config.Default's with changes.
func New(ctx context.Context, cfg config.Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	m, err := openMeta(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, meta: m}
	if err := s.open(ctx); err != nil {
		m.Close()
		return nil, err
	}
	followCtx, stop := context.WithCancel(context.Background())
	s.stopFollow = stop
	go s.follow(followCtx, m)
	return s, nil
}

// openMeta opens PostgreSQL when configured (shared by every node), else the
// embedded SQLite file in the data directory.
func openMeta(ctx context.Context, cfg config.Config) (meta.Store, error) {
	if cfg.Postgres != "" {
		m, err := postgres.Open(ctx, cfg.Postgres)
		if err != nil {
			return nil, fmt.Errorf("metadata store (PostgreSQL): %w", err)
		}
		return m, nil
	}
	return sqlite.Open(filepath.Join(cfg.DataDir, "meta.db"))
}

// openBlobs opens the S3 bucket when configured (shared by every node), else
// the blob directory in the data directory; with the store comes its
// readiness probe.
func openBlobs(ctx context.Context, cfg config.Config) (blob.Store, func(context.Context) error, error) {
	if c := cfg.S3; c.Bucket != "" {
		b, err := blobs3.New(ctx, blobs3.Config{
			Endpoint: c.Endpoint, Region: c.Region, Bucket: c.Bucket, Prefix: c.Prefix,
			PathStyle: c.PathStyle, AccessKey: c.AccessKey, SecretKey: c.SecretKey,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("blob store (S3): %w", err)
		}
		return b, b.Ping, nil
	}
	dir := filepath.Join(cfg.DataDir, "blobs")
	b, err := blobfs.New(dir)
	return b, func(context.Context) error { return writable(dir) }, err
}

// open builds everything on top of the metadata store.
func (s *Server) open(ctx context.Context) error {
	var err error
	s.metrics = prometheus.NewRegistry()
	s.storeErrs = store.NewErrors(s.metrics)
	s.meta = meta.Instrument(s.meta, s.storeErrs)
	if s.blobs, s.blobsReady, err = openBlobs(ctx, s.cfg); err != nil {
		return err
	}
	s.blobs = blob.Instrument(s.blobs, s.storeErrs)
	if s.subscription, err = s.meta.InitSetting(ctx, "subscriptionId", newGUID()); err != nil {
		return err
	}
	if s.tenant, err = s.meta.InitSetting(ctx, "tenantId", newGUID()); err != nil {
		return err
	}
	if s.index, err = regindex.New(ctx, s.meta); err != nil {
		return err
	}
	if len(s.cfg.IPSets) > 0 { // the operator's named IP sets, which IP rules may name
		s.index.SetIPSets(regindex.NamedSets(s.cfg.IPSets))
		if err := s.index.Reload(ctx); err != nil {
			return err
		}
	}
	if err := s.setAddressing(s.cfg.Listeners, nil); err != nil {
		return err
	}
	if s.keys, err = token.OpenKeys(ctx, s.meta); err != nil {
		return err
	}
	// Retired signing keys verify as long as docker login's refresh tokens
	// live (0: as long as their credential, so forever).
	s.keys.SetRetention(s.cfg.Tokens.OfflineLifetime)
	if err := s.keys.Reload(ctx); err != nil {
		return err
	}
	if s.dir, err = identity.Open(ctx, s.meta, s.tenant); err != nil {
		return err
	}
	s.dir.LimitPasswordChecks(s.cfg.Limits.PasswordChecks)
	if s.authz, err = rbac.NewAuthorizer(ctx, s.meta); err != nil {
		return err
	}
	registerRuntime(s.metrics)
	s.denials = netguard.NewDenialLog(s.meta, s.metrics)
	s.traffic = netguard.NewTrafficLog(s.meta)
	if err := s.openOps(); err != nil {
		return err
	}
	if err := s.bootstrapAdmin(ctx); err != nil {
		return err
	}
	return s.routes(ctx)
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	u, _ := uuid.FromBytes(b[:])
	u[6] = (u[6] & 0x0f) | 0x40 // version 4
	u[8] = (u[8] & 0x3f) | 0x80
	return u.String()
}

// Tenant is the server's tenant ID.
func (s *Server) Tenant() string { return s.tenant }

// Subscription is the server's subscription ID.
func (s *Server) Subscription() string { return s.subscription }

// Handler is the HTTP handler of every listener.
func (s *Server) Handler() http.Handler { return s.handler }

// Close releases the stores.
func (s *Server) Close() error {
	if s.stopFollow != nil {
		s.stopFollow()
	}
	return s.meta.Close()
}

func (s *Server) limits() mgmt.Limits {
	c := s.cfg.Limits
	return mgmt.Limits{IPRules: c.IPRules, VirtualNetworkRules: c.VirtualNetworkRules, PrivateEndpoints: c.PrivateEndpoints}
}

func (s *Server) routes(ctx context.Context) error {
	mux := http.NewServeMux()
	auth := authority.New(s.keys, s.dir)
	auth.SetRecorder(s.recorder()) // sign-ins go to the audit trail (server-wide)
	limited := s.signInGuard()
	for _, p := range auth.Patterns() {
		mux.Handle(p, limited(auth, auth))
	}
	lt := s.cfg.Tokens
	audiences := token.NewAudiences(s.cfg.PublicURLOrDefault())
	tokens := &regauth.Service{Keys: s.keys, Dir: s.dir, Authz: s.authz, Index: s.index,
		Lifetimes: regauth.Lifetimes{Access: lt.AccessLifetime, Refresh: lt.RefreshLifetime, Offline: lt.OfflineLifetime}, ManagementAudiences: audiences}
	tokens.Admin = &mgmt.AdminCreds{Meta: s.meta}        // the registries' admin users (moat acr credential)
	tokens.Tokens = &mgmt.RepositoryTokens{Meta: s.meta} // repository-scoped tokens (moat acr token)
	guard := &netguard.Guard{Trusted: s.trusted(), Principals: tokens, Record: s.denials,
		Traffic: s.traffic, Principal: principalOf}
	tokens.Observer, tokens.Audit = s.obs, s.recorder()
	data := &oci.Handler{Meta: s.meta, Blobs: s.blobs, Auth: principalGate{tokens}, Network: guard, Audit: s.recorder(),
		MaxUploadSessions: s.cfg.Limits.UploadSessions}
	// The data plane: every route passes the network gate before anything
	// else, on the target that the observer (below, as target.Middleware) resolved.
	mux.Handle("/oauth2/", limited(regauth.SignIns{}, guard.Middleware(tokens)))
	v2 := oci.APIVersion(guard.Middleware(data))
	mux.Handle("/v2/", v2) // and nothing else under /v2/ (dataPlaneFirst)
	mux.Handle("/v2", v2)
	mux.Handle("/acr/v1/", guard.Middleware(&acrapi.Handler{Meta: s.meta, Auth: principalGate{tokens},
		LoginServer: func(r *http.Request, reg *meta.Registry) string { return s.loginServer(r, reg.Name) }}))
	mg := &mgmt.Handler{Meta: s.meta, Index: s.index, Subscription: s.subscription, Tenant: s.tenant, Location: "local",
		Network: networkView{s.index, s.denials, s.traffic, tokens, s.trusted()},
		Limits:  s.limits(), IPSets: regindex.NamedSets(s.cfg.IPSets), ZoneSuffix: s.index.Load().Addressing.Suffix(), Audiences: audiences.List(),
		LoginServerSuffix: func() string { return s.index.Load().Addressing.LoginServerSuffix() },
		Auth:              principalAuth{&mgmt.BearerAuth{Keys: s.keys, Dir: s.dir, Tenant: s.tenant, Audiences: audiences}}, Audit: auditView{s}, Record: s.recorder(),
		Roles: s.authz, Principals: s.dir,
		LoginServer: func(r *http.Request, name string) string { return s.loginServer(r, name) }, GC: s.gc,
		LogSigner: s.keys}
	if err := mg.Bootstrap(ctx); err != nil {
		return err
	}
	if err := s.wireTasks(ctx, mg, tokens); err != nil {
		return err
	}
	mux.HandleFunc("/graph/", mg.Graph)
	mux.HandleFunc("/metadata/endpoints", mg.Metadata)
	mux.HandleFunc(mgmt.RunLogPrefix, mg.RunLog) // task runs' log links
	mux.Handle("/subscriptions/", mg)
	mux.Handle("/subscriptions", mg)
	mux.Handle("/tenants", mg)
	// The web portal drives the handlers above in-process (docs/portal.md);
	// each of its requests gets its own target.
	mux.Handle(portal.Prefix, portal.New(target.Middleware(s.index, mux), s.keys, s.tenant, s.subscription))
	s.handler = paceBodies(s.opsRoutes(mux, recoverPanics(dataPlaneFirst(v2, mux)))) // the observer resolves each target
	return nil
}

// loginServer is <name>.<suffix>[:port] in host style, else <host the client used>/<name>.
func (s *Server) loginServer(r *http.Request, name string) string {
	return s.index.Load().Addressing.LoginServerOn(r.Host, name)
}

// Run serves every configured listener until ctx ends, then shuts down
// gracefully. Each listener gives its requests a network identity (netid).
func (s *Server) Run(ctx context.Context, ready func(addrs []net.Addr)) error {
	if err := s.loadCerts(); err != nil {
		return err
	}
	set := netid.NewSet(netid.SetOptions{Handler: s.handler, Topology: s.index,
		NewServer: func(config.Listener) *http.Server {
			return &http.Server{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, TLSConfig: s.tlsConfig(),
				MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}
		}})
	if err := set.Apply(s.cfg.Listeners); err != nil {
		return err
	}
	s.listeners = set
	if err := s.setAddressing(s.cfg.Listeners, set); err != nil {
		_ = set.Shutdown(context.Background())
		return err
	}
	s.setRunnerEndpoint(set)
	if s.cfg.MetricsAddress != "" {
		stop, err := s.serveMetrics(s.cfg.MetricsAddress)
		if err != nil {
			_ = set.Shutdown(context.Background())
			return err
		}
		defer stop()
	}
	go s.rotateKeys(ctx)
	auditCtx, stopAudit := context.WithCancel(context.Background())
	auditDone := make(chan struct{})
	trafficDone := make(chan struct{})
	go func() { s.denials.Run(auditCtx, 5*time.Second); close(auditDone) }()
	go func() { s.traffic.Run(auditCtx, 10*time.Second); close(trafficDone) }()
	stopOps := s.startOps()
	if ready != nil {
		ready(set.Addrs())
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-set.Errors():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = set.Shutdown(shutCtx)
	// After the drain: the audit writes what the last requests recorded
	// before the stores close.
	stopAudit()
	<-auditDone
	<-trafficDone
	stopOps()
	return err
}

// Reload applies a new configuration's listeners (addresses, kinds, trusted
// proxies, virtual networks) without a restart.
func (s *Server) Reload(cfg config.Config) error {
	if s.listeners == nil {
		return fmt.Errorf("the server is not running")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := s.reloadCerts(cfg); err != nil {
		return err
	}
	if err := s.listeners.Apply(cfg.Listeners); err != nil {
		return err
	}
	return s.setAddressing(cfg.Listeners, s.listeners)
}

// rotateKeys rotates the token signing key when it is due, hourly; old keys
// keep verifying, so no token in flight is refused.
func (s *Server) rotateKeys(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if rotated, err := s.keys.RotateIfDue(ctx); err != nil {
			slog.Error("rotating the token signing key", "err", err)
		} else if rotated {
			slog.Info("token signing key rotated")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
