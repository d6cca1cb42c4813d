package config

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/network/netrule"
)

// Validate checks a configuration (Load's, or one built in code from
// Default) and says what to fix.
func (c *Config) Validate() error {
	if c.AuditRetention <= 0 {
		return fmt.Errorf("%s must be longer than 0, e.g. 720h", describe("auditRetention"))
	}
	for key, d := range map[string]time.Duration{"gc.interval": c.GC.Interval, "gc.grace": c.GC.Grace, "limits.uploadExpiry": c.Limits.UploadExpiry} {
		if d < 0 {
			return fmt.Errorf("%s must not be negative: a duration such as 1h or 30m (0 for none)", describe(key))
		}
	}
	for key, v := range map[string]int{"limits.ipRules": c.Limits.IPRules, "limits.virtualNetworkRules": c.Limits.VirtualNetworkRules,
		"limits.privateEndpoints": c.Limits.PrivateEndpoints} {
		if v <= 0 {
			return fmt.Errorf("%s must be a positive number", describe(key))
		}
	}
	for key, v := range map[string]int{"limits.tokenRequestsPerSecond": c.Limits.TokenRequestsPerSecond, "limits.signInFailures": c.Limits.SignInFailures,
		"limits.signInFailuresPerPrincipal": c.Limits.SignInFailuresPerPrincipal, "limits.uploadSessions": c.Limits.UploadSessions,
		"limits.passwordChecks": c.Limits.PasswordChecks} {
		if v < 0 {
			return fmt.Errorf("%s must be a positive number or 0", describe(key))
		}
	}
	for key, d := range map[string]time.Duration{"tokens.accessLifetime": c.Tokens.AccessLifetime, "tokens.refreshLifetime": c.Tokens.RefreshLifetime} {
		if d <= 0 || d > maxTokenLifetime {
			return fmt.Errorf("%s %s must be longer than 0 and at most %s, the longest a short-lived token may live", describe(key), d, maxTokenLifetime)
		}
	}
	if c.Tokens.OfflineLifetime < 0 {
		return fmt.Errorf("%s must not be negative (0: as long as the credential)", describe("tokens.offlineLifetime"))
	}
	if err := c.validateIPSets(); err != nil {
		return err
	}
	if err := c.validatePublicURL(); err != nil {
		return err
	}
	if _, _, err := addressing.SplitSuffix(c.LoginServerSuffix); err != nil {
		return fmt.Errorf("%s: %v", describe("loginServerSuffix"), err)
	}
	if c.LogFormat != LogText && c.LogFormat != LogJSON {
		return fmt.Errorf("%s %q must be json or text", describe("logFormat"), c.LogFormat)
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
	return validateListeners(c.Listeners)
}

func validateListeners(ls []Listener) error {
	seen := map[string]bool{}
	for i, l := range ls {
		if l.Name == "" {
			return fmt.Errorf("listener %d has no name", i+1)
		}
		if seen[l.Name] {
			return fmt.Errorf("listener name %q is used twice", l.Name)
		}
		seen[l.Name] = true
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			return fmt.Errorf("listener %s: address %q must be host:port (e.g. 127.0.0.1:5000 or :443)", l.Name, l.Address)
		}
		switch l.Kind {
		case KindPublic:
		case KindVirtualNetwork:
			if l.VirtualNetwork == "" {
				return fmt.Errorf("listener %s: kind virtualNetwork needs virtualNetwork: <virtual network resource ID>", l.Name)
			}
		default:
			return fmt.Errorf("listener %s: kind %d must be public or virtualNetwork", l.Name, l.Kind)
		}
		for _, p := range l.TrustedProxies {
			if !p.IsValid() {
				return fmt.Errorf("listener %s: a trusted proxy is not a CIDR prefix such as 192.0.2.10/32", l.Name)
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
		if s.Endpoint != "" || s.Prefix != "" || s.PathStyle {
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

func (c *Config) validatePublicURL() error {
	if c.PublicURL == "" {
		return nil
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s %q must be the server's http(s) URL without a path, e.g. https://moat.example.com:8443", describe("publicURL"), c.PublicURL)
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
	var addr string
	if len(c.Listeners) > 0 {
		addr = c.Listeners[0].Address
	}
	for _, l := range c.Listeners {
		if l.Kind == KindPublic {
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

// validateIPSets: each set has a name IP rules can name and holds what an IP
// rule may hold (public prefixes); names differ in more than case.
func (c *Config) validateIPSets() error {
	seen := map[string]string{}
	for name, ps := range c.IPSets {
		if !netrule.ValidIPSetName(name) {
			return fmt.Errorf("%s: %q is not a valid set name: a letter, then letters, digits, '.', '_' or '-' (at most 80)", describe("ipSets"), name)
		}
		if other, ok := seen[strings.ToLower(name)]; ok {
			return fmt.Errorf("%s: %q and %q differ only in case; rules name sets case-insensitively", describe("ipSets"), other, name)
		}
		seen[strings.ToLower(name)] = name
		if len(ps) == 0 {
			return fmt.Errorf("%s %s: list at least one prefix", describe("ipSets"), name)
		}
		for _, p := range ps {
			if _, err := netrule.ParseIPRule(p.String()); err != nil {
				return fmt.Errorf("%s %s: %v", describe("ipSets"), name, err)
			}
		}
	}
	return nil
}
