// Package config loads the server configuration. Precedence, highest first:
// command-line flags, MOAT_* environment variables, the YAML file, defaults.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

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
}

// Limits are per-registry quotas; zero means the default (200 IP rules,
// 100 virtual-network rules, 200 private endpoints).
type Limits struct {
	IPRules             int `yaml:"ipRules"`
	VirtualNetworkRules int `yaml:"virtualNetworkRules"`
	PrivateEndpoints    int `yaml:"privateEndpoints"`
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
	fs.String("metrics-listen", "", "address of a separate listener for Prometheus /metrics (env MOAT_METRICS_LISTEN; default off)")
	fs.String("log-format", "", "request and server log format: json or text (env MOAT_LOG_FORMAT; default text)")
	fs.String("audit-retention", "", "how long audit events are kept, e.g. 720h (env MOAT_AUDIT_RETENTION; default 30 days)")
	fs.String("login-server-suffix", "", "DNS suffix of host-style login servers <registry>.<suffix> (env MOAT_LOGIN_SERVER_SUFFIX); unset: path style only")
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
	override(&c.MetricsAddress, "metrics-listen")
	override(&c.Postgres, "postgres")
	override(&c.LogFormat, "log-format")
	override(&c.AuditRetention, "audit-retention")
	switch v := setting(fs, getenv, "tls-auto"); v {
	case "":
	case "true", "1":
		c.TLSAuto = true
	case "false", "0":
		c.TLSAuto = false
	default:
		return c, fmt.Errorf("--tls-auto / MOAT_TLS_AUTO %q must be true or false", v)
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
	if c.Limits.IPRules < 0 || c.Limits.VirtualNetworkRules < 0 || c.Limits.PrivateEndpoints < 0 {
		return fmt.Errorf("limits must not be negative")
	}
	for name, v := range map[string]int{"tokenRequestsPerSecond": c.Limits.TokenRequestsPerSecond, "signInFailures": c.Limits.SignInFailures,
		"signInFailuresPerPrincipal": c.Limits.SignInFailuresPerPrincipal, "uploadSessions": c.Limits.UploadSessions} {
		if v < -1 {
			return fmt.Errorf("limits.%s must be a positive number, 0 for the default or -1 for no limit", name)
		}
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
