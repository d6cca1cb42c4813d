// Package config loads the server configuration. Precedence, highest first:
// command-line flags, MOAT_* environment variables, the YAML file, defaults.
package config

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/addressing"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Config is the server configuration (the YAML shape of SPEC section 3).
type Config struct {
	DataDir           string `yaml:"dataDir"`
	LoginServerSuffix string `yaml:"loginServerSuffix"`
	TLSCert           string `yaml:"tlsCert"`
	TLSKey            string `yaml:"tlsKey"`
	TLSAuto           bool   `yaml:"tlsAuto"`
	// Postgres is the PostgreSQL connection string of the metadata store shared
	// by several nodes ("" = the embedded SQLite file in DataDir).
	Postgres string `yaml:"postgres"`
	// S3 puts the blobs in an S3-compatible bucket shared by several nodes
	// (no bucket = the filesystem in DataDir).
	S3 S3 `yaml:"s3"`
	// MetricsAddress serves Prometheus /metrics on its own listener ("" = off).
	MetricsAddress string `yaml:"metricsAddress"`
	// LogFormat is json or text (default text); AuditRetention is how long
	// audit events are kept, as a duration (default 720h).
	LogFormat      string     `yaml:"logFormat"`
	AuditRetention string     `yaml:"auditRetention"`
	Listeners      []Listener `yaml:"listeners"`
	Limits         Limits     `yaml:"limits"`
	// TrustedServices are the service types whose system-assigned identities
	// may bypass network rules (default: tasks, registry import, ML workspaces).
	TrustedServices []string `yaml:"trustedServices"`
	// GC schedules garbage collection (docs/gc.md).
	GC GC `yaml:"gc"`
	// Tokens are the lifetimes of registry tokens (docs/identity.md).
	Tokens Tokens `yaml:"tokens"`

	// PublicURL is the URL clients reach the server at (its management API,
	// e.g. https://moat.example.com:8443): the audience of identity tokens
	// the management API and /oauth2/exchange accept, with the cloud's
	// well-known ARM audiences. Empty: from the first public listener and
	// the TLS settings (PublicURLOrDefault).
	PublicURL string `yaml:"publicURL"`
}

// Tokens are the lifetimes of the registry's tokens, as durations ("1h");
// empty is the default. Each is also set by MOAT_TOKEN_<NAME>_LIFETIME, e.g.
// MOAT_TOKEN_ACCESS_LIFETIME=2m for a test that must see tokens expire.
type Tokens struct {
	// AccessLifetime: access tokens (default 1h, at most 24h).
	AccessLifetime string `yaml:"accessLifetime"`
	// RefreshLifetime: the refresh token of /oauth2/exchange that `moat acr
	// login` writes for docker (default 3h, as ACR's; at most 24h).
	RefreshLifetime string `yaml:"refreshLifetime"`
	// OfflineLifetime: the refresh token of a sign-in with a password or
	// secret that asks for one (docker login); default 0, as long as the
	// credential: it ends when the password or secret changes or the
	// principal is disabled or deleted.
	OfflineLifetime string `yaml:"offlineLifetime"`
}

// maxTokenLifetime is how long a retired signing key verifies (token.MaxLifetime).
const maxTokenLifetime = 24 * time.Hour

// TokenLifetimes are the parsed token lifetimes (0: the default; Validate
// has checked them).
func (c *Config) TokenLifetimes() (access, refresh, offline time.Duration) {
	access, _ = duration(c.Tokens.AccessLifetime, 0)
	refresh, _ = duration(c.Tokens.RefreshLifetime, 0)
	offline, _ = duration(c.Tokens.OfflineLifetime, 0)
	return access, refresh, offline
}

// GC is the garbage collection schedule, as durations ("1h", "30m"; "0" for
// none). Interval 0 turns the schedule off (moat acr gc still runs it).
type GC struct {
	Interval string `yaml:"interval"`
	Grace    string `yaml:"grace"`
}

// Defaults of the garbage collection and upload expiry settings.
const (
	DefaultGCInterval   = time.Hour
	DefaultGCGrace      = time.Hour
	DefaultUploadExpiry = 24 * time.Hour
)

// GCInterval, GCGrace and UploadExpiry are the parsed settings (Validate
// has checked them).
func (c *Config) GCInterval() time.Duration {
	d, _ := duration(c.GC.Interval, DefaultGCInterval)
	return d
}
func (c *Config) GCGrace() time.Duration { d, _ := duration(c.GC.Grace, DefaultGCGrace); return d }
func (c *Config) UploadExpiry() time.Duration {
	d, _ := duration(c.Limits.UploadExpiry, DefaultUploadExpiry)
	return d
}

// duration parses a non-negative duration; "" is def.
func duration(v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 1h or 30m (0 for none)", v)
	}
	return d, nil
}

// S3 is the S3 blob store's location. The credentials come only from the
// environment (MOAT_S3_ACCESS_KEY / MOAT_S3_SECRET_KEY, or the AWS default
// chain when both are unset), never from flags or the file, so they do not
// show in process lists or configuration repositories.
type S3 struct {
	Endpoint  string `yaml:"endpoint"` // "" = AWS S3
	Region    string `yaml:"region"`
	Bucket    string `yaml:"bucket"`
	Prefix    string `yaml:"prefix"`
	PathStyle bool   `yaml:"pathStyle"`
	AccessKey string `yaml:"-"`
	SecretKey string `yaml:"-"`
}

// Limits are per-registry quotas; zero means the default (200 IP rules,
// 100 virtual-network rules, 200 private endpoints).
type Limits struct {
	IPRules             int `yaml:"ipRules"`
	VirtualNetworkRules int `yaml:"virtualNetworkRules"`
	PrivateEndpoints    int `yaml:"privateEndpoints"`
	// UploadExpiry: upload sessions idle longer are removed (default 24h; 0 = never).
	UploadExpiry string `yaml:"uploadExpiry"`
	// Abuse limits (docs/security.md); zero means the default, -1 turns one off.
	// TokenRequestsPerSecond: requests to the token and sign-in endpoints per
	// client address (default 100, bursts of 10 seconds' worth).
	TokenRequestsPerSecond int `yaml:"tokenRequestsPerSecond"`
	// SignInFailures: failed sign-ins per client address in 5 minutes before
	// sign-ins from it get 429 (default 20); SignInFailuresPerPrincipal: the
	// same per user, service principal or admin user name (default 60).
	SignInFailures             int `yaml:"signInFailures"`
	SignInFailuresPerPrincipal int `yaml:"signInFailuresPerPrincipal"`
	// UploadSessions: open blob upload sessions per registry (default 1000).
	UploadSessions int `yaml:"uploadSessions"`
	// PasswordChecks: password checks (argon2id, 19 MiB each) running at
	// once in the process (default GOMAXPROCS, at most 2); a few more wait
	// briefly, the rest are answered 503 with Retry-After.
	PasswordChecks int `yaml:"passwordChecks"`
}

// Listener is one address moat accepts data-plane and management traffic on.
type Listener struct {
	Name           string   `yaml:"name"`
	Address        string   `yaml:"address"`
	Kind           string   `yaml:"kind"` // public | virtualNetwork
	TrustedProxies []string `yaml:"trustedProxies"`
	VirtualNetwork string   `yaml:"virtualNetwork"`
}

// Listener kinds.
const (
	KindPublic         = "public"
	KindVirtualNetwork = "virtualNetwork"
)

// DefaultListen is the address of the one public listener when none is configured.
const DefaultListen = "127.0.0.1:5000"

// Flags registers the serve flags on fs.
func Flags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (env MOAT_CONFIG)")
	fs.String("data-dir", "", "directory for the embedded metadata database and blobs (env MOAT_DATA_DIR; default ./moat-data)")
	fs.String("listen", "", "address of one public listener, shorthand for a listeners: entry (env MOAT_LISTEN; default "+DefaultListen+")")
	fs.String("tls-cert", "", "PEM certificate to serve HTTPS (env MOAT_TLS_CERT)")
	fs.String("tls-key", "", "PEM private key for --tls-cert (env MOAT_TLS_KEY)")
	fs.Bool("tls-auto", false, "generate a local CA and server certificate in <data-dir>/tls on first start and serve HTTPS (env MOAT_TLS_AUTO)")
	fs.String("postgres", "", "PostgreSQL connection string for the metadata store shared by several nodes (env MOAT_POSTGRES; default: SQLite in the data directory)")
	fs.String("s3-bucket", "", "S3 bucket for the blobs, shared by several nodes (env MOAT_S3_BUCKET; default: files in the data directory); credentials from env MOAT_S3_ACCESS_KEY/MOAT_S3_SECRET_KEY or the AWS default chain")
	fs.String("s3-endpoint", "", "S3 API URL of MinIO, Ceph RGW or another S3-compatible store, e.g. http://minio:9000 (env MOAT_S3_ENDPOINT; default AWS S3)")
	fs.String("s3-region", "", "the S3 bucket's region (env MOAT_S3_REGION; default us-east-1)")
	fs.String("s3-prefix", "", "key prefix for everything moat stores in the bucket (env MOAT_S3_PREFIX)")
	fs.Bool("s3-path-style", false, "address the bucket in the URL path, as MinIO and Ceph RGW usually need (env MOAT_S3_PATH_STYLE)")
	fs.String("metrics-listen", "", "address of a separate listener for Prometheus /metrics (env MOAT_METRICS_LISTEN; default off)")
	fs.String("log-format", "", "request and server log format: json or text (env MOAT_LOG_FORMAT; default text)")
	fs.String("audit-retention", "", "how long audit events are kept, e.g. 720h (env MOAT_AUDIT_RETENTION; default 30 days)")
	fs.String("gc-interval", "", "how often garbage collection runs, e.g. 1h; 0 = never (env MOAT_GC_INTERVAL; default 1h)")
	fs.String("gc-grace", "", "blob links and blobs younger than this are never collected, e.g. 1h (env MOAT_GC_GRACE; default 1h)")
	fs.String("upload-expiry", "", "idle upload sessions older than this are removed, e.g. 24h; 0 = never (env MOAT_UPLOAD_EXPIRY; default 24h)")
	fs.String("public-url", "", "the URL clients reach the server at, e.g. https://moat.example.com:8443: the audience of management tokens (env MOAT_PUBLIC_URL; default from the first public listener and the TLS settings)")
	fs.String("login-server-suffix", "", "DNS suffix of host-style login servers <registry>.<suffix>[:port], optionally with the port clients dial when it is not the public listener's (env MOAT_LOGIN_SERVER_SUFFIX); unset: path style only")
}

// Load builds the configuration from fs (after parsing) and the environment.
func Load(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	var c Config
	path := setting(fs, getenv, "config")
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	override := func(dst *string, name string) {
		if v := setting(fs, getenv, name); v != "" {
			*dst = v
		}
	}
	override(&c.DataDir, "data-dir")
	override(&c.TLSCert, "tls-cert")
	override(&c.TLSKey, "tls-key")
	override(&c.LoginServerSuffix, "login-server-suffix")
	override(&c.PublicURL, "public-url")
	override(&c.MetricsAddress, "metrics-listen")
	override(&c.Postgres, "postgres")
	override(&c.LogFormat, "log-format")
	override(&c.AuditRetention, "audit-retention")
	override(&c.GC.Interval, "gc-interval")
	override(&c.GC.Grace, "gc-grace")
	override(&c.Limits.UploadExpiry, "upload-expiry")
	override(&c.S3.Bucket, "s3-bucket")
	override(&c.S3.Endpoint, "s3-endpoint")
	override(&c.S3.Region, "s3-region")
	override(&c.S3.Prefix, "s3-prefix")
	override(&c.Tokens.AccessLifetime, "token-access-lifetime")
	override(&c.Tokens.RefreshLifetime, "token-refresh-lifetime")
	override(&c.Tokens.OfflineLifetime, "token-offline-lifetime")
	c.S3.AccessKey = getenv("MOAT_S3_ACCESS_KEY")
	c.S3.SecretKey = getenv("MOAT_S3_SECRET_KEY")
	for name, dst := range map[string]*bool{"tls-auto": &c.TLSAuto, "s3-path-style": &c.S3.PathStyle} {
		switch v := setting(fs, getenv, name); v {
		case "":
		case "true", "1":
			*dst = true
		case "false", "0":
			*dst = false
		default:
			return c, fmt.Errorf("--%s / MOAT_%s %q must be true or false", name, strings.ToUpper(strings.ReplaceAll(name, "-", "_")), v)
		}
	}
	if listen := setting(fs, getenv, "listen"); listen != "" {
		c.Listeners = []Listener{{Name: "default", Address: listen, Kind: KindPublic}}
	}
	if c.DataDir == "" {
		c.DataDir = "moat-data"
	}
	if len(c.Listeners) == 0 {
		c.Listeners = []Listener{{Name: "default", Address: DefaultListen, Kind: KindPublic}}
	}
	return c, c.Validate()
}

// setting returns a flag's value if it was set, else MOAT_<NAME>.
func setting(fs *pflag.FlagSet, getenv func(string) string, name string) string {
	if f := fs.Lookup(name); f != nil && f.Changed {
		return f.Value.String()
	}
	return getenv("MOAT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")))
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	if c.Limits.IPRules < 0 || c.Limits.VirtualNetworkRules < 0 || c.Limits.PrivateEndpoints < 0 || c.Limits.PasswordChecks < 0 {
		return fmt.Errorf("limits must not be negative")
	}
	for _, d := range []struct{ name, v string }{{"gc.interval (--gc-interval, MOAT_GC_INTERVAL)", c.GC.Interval},
		{"gc.grace (--gc-grace, MOAT_GC_GRACE)", c.GC.Grace}, {"limits.uploadExpiry (--upload-expiry, MOAT_UPLOAD_EXPIRY)", c.Limits.UploadExpiry}} {
		if _, err := duration(d.v, 0); err != nil {
			return fmt.Errorf("%s: %v", d.name, err)
		}
	}
	for _, d := range []struct {
		name, v string
		max     time.Duration
	}{{"tokens.accessLifetime (MOAT_TOKEN_ACCESS_LIFETIME)", c.Tokens.AccessLifetime, maxTokenLifetime},
		{"tokens.refreshLifetime (MOAT_TOKEN_REFRESH_LIFETIME)", c.Tokens.RefreshLifetime, maxTokenLifetime},
		{"tokens.offlineLifetime (MOAT_TOKEN_OFFLINE_LIFETIME)", c.Tokens.OfflineLifetime, 0}} {
		v, err := duration(d.v, 0)
		if err != nil {
			return fmt.Errorf("%s: %v", d.name, err)
		}
		if d.max > 0 && v > d.max {
			return fmt.Errorf("%s: %s is longer than %s, the longest a short-lived token may live", d.name, d.v, d.max)
		}
	}
	for name, v := range map[string]int{"tokenRequestsPerSecond": c.Limits.TokenRequestsPerSecond, "signInFailures": c.Limits.SignInFailures,
		"signInFailuresPerPrincipal": c.Limits.SignInFailuresPerPrincipal, "uploadSessions": c.Limits.UploadSessions} {
		if v < -1 {
			return fmt.Errorf("limits.%s must be a positive number, 0 for the default or -1 for no limit", name)
		}
	}
	if _, _, err := addressing.SplitSuffix(c.LoginServerSuffix); err != nil {
		return fmt.Errorf("--login-server-suffix / MOAT_LOGIN_SERVER_SUFFIX: %v", err)
	}
	if c.LogFormat != "" && c.LogFormat != "json" && c.LogFormat != "text" {
		return fmt.Errorf("--log-format / MOAT_LOG_FORMAT %q must be json or text", c.LogFormat)
	}
	if c.TLSAuto && c.TLSCert != "" {
		return fmt.Errorf("use either --tls-auto or --tls-cert/--tls-key, not both")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("set both --tls-cert and --tls-key, or neither")
	}
	if err := c.S3.validate(); err != nil {
		return err
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("--public-url / MOAT_PUBLIC_URL %q must be the server's http(s) URL without a path, e.g. https://moat.example.com:8443", c.PublicURL)
		}
	}
	seen := map[string]bool{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.Name == "" {
			l.Name = fmt.Sprintf("listener%d", i+1)
		}
		if seen[l.Name] {
			return fmt.Errorf("listener name %q is used twice", l.Name)
		}
		seen[l.Name] = true
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			return fmt.Errorf("listener %s: address %q must be host:port (e.g. 127.0.0.1:5000 or :443)", l.Name, l.Address)
		}
		if l.Kind == "" {
			l.Kind = KindPublic
		}
		switch l.Kind {
		case KindPublic:
		case KindVirtualNetwork:
			if l.VirtualNetwork == "" {
				return fmt.Errorf("listener %s: kind virtualNetwork needs virtualNetwork: <virtual network resource ID>", l.Name)
			}
		default:
			return fmt.Errorf("listener %s: kind %q must be public or virtualNetwork", l.Name, l.Kind)
		}
		for _, p := range l.TrustedProxies {
			if _, err := netip.ParsePrefix(p); err != nil {
				return fmt.Errorf("listener %s: trusted proxy %q must be a CIDR prefix such as 192.0.2.10/32", l.Name, p)
			}
		}
	}
	return nil
}

// Describe names the blob store for logs, without credentials.
func (s S3) Describe() string {
	if s.Bucket == "" {
		return "filesystem"
	}
	return "s3://" + s.Bucket + "/" + s.Prefix + " at " + cmp.Or(s.Endpoint, "AWS S3")
}

func (s S3) validate() error {
	if s.Bucket == "" {
		if s.Endpoint != "" || s.Region != "" || s.Prefix != "" || s.PathStyle {
			return fmt.Errorf("S3 settings without a bucket: set --s3-bucket / MOAT_S3_BUCKET (or s3.bucket in the file), or remove the other S3 settings")
		}
		return nil
	}
	if s.Endpoint != "" {
		u, err := url.Parse(s.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return fmt.Errorf("--s3-endpoint %q must be an http(s) URL such as http://minio:9000, without credentials (use MOAT_S3_ACCESS_KEY / MOAT_S3_SECRET_KEY)", s.Endpoint)
		}
	}
	if (s.AccessKey == "") != (s.SecretKey == "") {
		return fmt.Errorf("set both MOAT_S3_ACCESS_KEY and MOAT_S3_SECRET_KEY, or neither (to use the AWS default credential chain)")
	}
	return nil
}

// PublicURLOrDefault is PublicURL without a trailing slash, or else the URL
// of the first public listener: https with TLS, the listener's host
// ("localhost" for a wildcard address) and port (left out when it is the
// scheme's default).
func (c *Config) PublicURLOrDefault() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	scheme, def := "http", "80"
	if c.TLSCert != "" || c.TLSAuto {
		scheme, def = "https", "443"
	}
	addr := DefaultListen
	if len(c.Listeners) > 0 {
		addr = c.Listeners[0].Address
	}
	for _, l := range c.Listeners {
		if l.Kind == KindPublic || l.Kind == "" {
			addr = l.Address
			break
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + "://" + addr
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = "localhost"
	}
	if port == def {
		if strings.Contains(host, ":") {
			return scheme + "://[" + host + "]"
		}
		return scheme + "://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
