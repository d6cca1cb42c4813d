// Package config loads the server configuration. Precedence, highest first:
// command-line flags, MOAT_* environment variables, the YAML file, defaults.
//
// Every setting is one field of Config whose tags say all about it: its YAML
// key (yaml), its flag (flag; the environment variable is MOAT_ and the
// flag's name in capitals, or env for a setting without a flag), its default
// (default, written as an operator would) and its flag's help (help). Load
// returns resolved, validated values: durations are time.Duration, enums
// are typed, defaults are applied; nothing else in moat holds a default of
// a setting or parses one.
package config

import (
	"net/netip"
	"time"
)

// Config is the server configuration (the YAML shape of SPEC section 3),
// resolved: every value is in force, defaults included.
type Config struct {
	DataDir           string `yaml:"dataDir" flag:"data-dir" default:"moat-data" help:"directory for the embedded metadata database and blobs"`
	LoginServerSuffix string `yaml:"loginServerSuffix" flag:"login-server-suffix" help:"DNS suffix of host-style login servers <registry>.<suffix>[:port], optionally with the port clients dial when it is not the public listener's; unset: path style only"`
	TLSCert           string `yaml:"tlsCert" flag:"tls-cert" help:"PEM certificate to serve HTTPS"`
	TLSKey            string `yaml:"tlsKey" flag:"tls-key" help:"PEM private key for --tls-cert"`
	TLSAuto           bool   `yaml:"tlsAuto" flag:"tls-auto" help:"generate a local CA and server certificate in <data-dir>/tls on first start and serve HTTPS"`
	// Postgres is the PostgreSQL connection string of the metadata store shared
	// by several nodes ("" = the embedded SQLite file in DataDir).
	Postgres string `yaml:"postgres" flag:"postgres" help:"PostgreSQL connection string for the metadata store shared by several nodes (unset: SQLite in the data directory)"`
	// S3 puts the blobs in an S3-compatible bucket shared by several nodes
	// (no bucket = the filesystem in DataDir).
	S3 S3 `yaml:"s3"`
	// MetricsAddress serves Prometheus /metrics on its own listener ("" = off).
	MetricsAddress string        `yaml:"metricsAddress" flag:"metrics-listen" help:"address of a separate listener for Prometheus /metrics (unset: off)"`
	LogFormat      LogFormat     `yaml:"logFormat" flag:"log-format" default:"text" help:"request and server log format: json or text"`
	AuditRetention time.Duration `yaml:"auditRetention" flag:"audit-retention" default:"720h" help:"how long audit events are kept, e.g. 720h"`
	// Listeners: the file's list, or the one public listener of --listen.
	Listeners []Listener `yaml:"listeners" flag:"listen" default:"127.0.0.1:5000" help:"address of one public listener, shorthand for a listeners: entry"`
	Limits    Limits     `yaml:"limits"`
	// TrustedServices are the service types whose system-assigned identities
	// may bypass network rules (SPEC 5); an empty list is the default.
	TrustedServices []string `yaml:"trustedServices" default:"Microsoft.ContainerRegistry/registries/tasks,Microsoft.ContainerRegistry/registries,Microsoft.MachineLearningServices/workspaces"`
	// IPSets are named sets of public addresses and prefixes that registries'
	// IP rules may name (the local equivalent of service tags, e.g.
	// ci-runners: [203.0.113.0/24]); docs/network-access.md.
	IPSets map[string][]netip.Prefix `yaml:"ipSets"`
	// GC schedules garbage collection (docs/gc.md).
	GC GC `yaml:"gc"`
	// Tokens are the lifetimes of registry tokens (docs/identity.md).
	Tokens Tokens `yaml:"tokens"`
	// PublicURL is the URL clients reach the server at (its management API,
	// e.g. https://moat.example.com:8443): the audience of identity tokens
	// the management API and /oauth2/exchange accept, with the cloud's
	// well-known ARM audiences. Empty: from the first public listener and
	// the TLS settings (PublicURLOrDefault).
	PublicURL string `yaml:"publicURL" flag:"public-url" help:"the URL clients reach the server at, e.g. https://moat.example.com:8443: the audience of management tokens (unset: from the first public listener and the TLS settings)"`
}

// Tokens are the lifetimes of the registry's tokens. Each is also set by
// MOAT_TOKEN_<NAME>_LIFETIME, e.g. MOAT_TOKEN_ACCESS_LIFETIME=2m for a test
// that must see tokens expire.
type Tokens struct {
	// AccessLifetime: access tokens (at most 24h).
	AccessLifetime time.Duration `yaml:"accessLifetime" env:"MOAT_TOKEN_ACCESS_LIFETIME" default:"1h"`
	// RefreshLifetime: the refresh token of /oauth2/exchange that `moat acr
	// login` writes for docker (as ACR's; at most 24h).
	RefreshLifetime time.Duration `yaml:"refreshLifetime" env:"MOAT_TOKEN_REFRESH_LIFETIME" default:"3h"`
	// OfflineLifetime: the refresh token of a sign-in with a password or
	// secret that asks for one (docker login); 0: as long as the credential,
	// which ends it when the password or secret changes or the principal is
	// disabled or deleted.
	OfflineLifetime time.Duration `yaml:"offlineLifetime" env:"MOAT_TOKEN_OFFLINE_LIFETIME"`
}

// maxTokenLifetime is the longest an access or /oauth2/exchange refresh
// token may live: how long a retired signing key verifies (token.MaxLifetime).
const maxTokenLifetime = 24 * time.Hour

// GC is the garbage collection schedule. Interval 0 turns the schedule off
// (moat acr gc still runs it).
type GC struct {
	Interval time.Duration `yaml:"interval" flag:"gc-interval" default:"1h" help:"how often garbage collection runs, e.g. 1h; 0 = never"`
	Grace    time.Duration `yaml:"grace" flag:"gc-grace" default:"1h" help:"blob links and blobs younger than this are never collected, e.g. 1h"`
}

// S3 is the S3 blob store's location. The credentials come only from the
// environment (MOAT_S3_ACCESS_KEY / MOAT_S3_SECRET_KEY, or the AWS default
// chain when both are unset), never from flags or the file, so they do not
// show in process lists or configuration repositories.
type S3 struct {
	Endpoint  string `yaml:"endpoint" flag:"s3-endpoint" help:"S3 API URL of MinIO, Ceph RGW or another S3-compatible store, e.g. http://minio:9000 (unset: AWS S3)"`
	Region    string `yaml:"region" flag:"s3-region" default:"us-east-1" help:"the S3 bucket's region"`
	Bucket    string `yaml:"bucket" flag:"s3-bucket" help:"S3 bucket for the blobs, shared by several nodes (unset: files in the data directory); credentials from env MOAT_S3_ACCESS_KEY/MOAT_S3_SECRET_KEY or the AWS default chain"`
	Prefix    string `yaml:"prefix" flag:"s3-prefix" help:"key prefix for everything moat stores in the bucket"`
	PathStyle bool   `yaml:"pathStyle" flag:"s3-path-style" help:"address the bucket in the URL path, as MinIO and Ceph RGW usually need"`
	AccessKey string `env:"MOAT_S3_ACCESS_KEY"`
	SecretKey string `env:"MOAT_S3_SECRET_KEY"`
}

// Limits are per-registry quotas and abuse limits (docs/security.md). In the
// file 0 means the default; the abuse limits (tagged unlimited) take -1 for
// none. Resolved, each is the limit in force, 0 meaning none.
type Limits struct {
	IPRules             int `yaml:"ipRules" default:"200"`
	VirtualNetworkRules int `yaml:"virtualNetworkRules" default:"100"`
	PrivateEndpoints    int `yaml:"privateEndpoints" default:"200"`
	// UploadExpiry: upload sessions idle longer are removed (0 = never).
	UploadExpiry time.Duration `yaml:"uploadExpiry" flag:"upload-expiry" default:"24h" help:"idle upload sessions older than this are removed, e.g. 24h; 0 = never"`
	// TokenRequestsPerSecond: requests to the token and sign-in endpoints per
	// client address (bursts of 10 seconds' worth).
	TokenRequestsPerSecond int `yaml:"tokenRequestsPerSecond" default:"100" unlimited:"-1"`
	// SignInFailures: failed sign-ins per client address in 5 minutes before
	// sign-ins from it get 429; SignInFailuresPerPrincipal: the same per
	// user, service principal or admin user name.
	SignInFailures             int `yaml:"signInFailures" default:"20" unlimited:"-1"`
	SignInFailuresPerPrincipal int `yaml:"signInFailuresPerPrincipal" default:"60" unlimited:"-1"`
	// UploadSessions: open blob upload sessions per registry.
	UploadSessions int `yaml:"uploadSessions" default:"1000" unlimited:"-1"`
	// PasswordChecks: password checks (argon2id, 19 MiB each) running at
	// once in the process; a few more wait briefly, the rest are answered 503
	// with Retry-After. 0: as many as GOMAXPROCS, at most 2.
	PasswordChecks int `yaml:"passwordChecks"`
}

// Listener is one address moat accepts data-plane and management traffic on.
type Listener struct {
	// Name defaults to listener<n> (n counting from 1) in the file, and is
	// "default" for --listen.
	Name    string       `yaml:"name"`
	Address string       `yaml:"address"`
	Kind    ListenerKind `yaml:"kind"`
	// TrustedProxies may send PROXY protocol headers and X-Forwarded-For.
	TrustedProxies []netip.Prefix `yaml:"trustedProxies"`
	VirtualNetwork string         `yaml:"virtualNetwork"`
}

// ListenerKind is where a listener's clients come from. The zero value is
// KindPublic.
type ListenerKind int

// Listener kinds.
const (
	KindPublic ListenerKind = iota
	KindVirtualNetwork
)

var kindNames = []string{KindPublic: "public", KindVirtualNetwork: "virtualNetwork"}

func (k ListenerKind) String() string {
	if int(k) < len(kindNames) && k >= 0 {
		return kindNames[k]
	}
	return "unknown"
}

// LogFormat is the format of the request and server log.
type LogFormat string

// Log formats.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

// Default is the configuration of no flags, no environment and no file.
func Default() Config {
	c, err := resolve(nil, func(string) string { return "" }, nil, "")
	if err != nil {
		panic("config: a default does not parse: " + err.Error())
	}
	return c
}
