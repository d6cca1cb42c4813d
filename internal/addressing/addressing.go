// Package addressing tells how clients name a registry (SPEC 6): host style,
// <registry>.<suffix>[:port]/<repository>, when the Host ends in the
// configured login-server suffix; else path style, <host>/<registry>/<repository>.
// It computes login servers, which are also token audiences.
package addressing

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Addressing is the server's addressing configuration. The zero value is
// path style only. It is an immutable value: build a new one to change it.
type Addressing struct {
	suffix string // lower-cased, no port; "" = path style only
	port   string // the login servers' port; "" when clients use the default
}

// New builds the addressing of a login-server suffix ("" for path style
// only; "name" or "name:port") and the port of the public listener. The port
// of the login servers is the suffix's when it names one (a load balancer in
// front says what clients dial), else listenPort; 443 and 80, the ports a
// client dials for a name without one, are left out.
func New(suffix, listenPort string) (Addressing, error) {
	host, port, err := SplitSuffix(suffix)
	if err != nil || host == "" {
		return Addressing{}, err
	}
	if port == "" {
		port = listenPort
	}
	if port == "443" || port == "80" || port == "0" {
		port = ""
	}
	return Addressing{suffix: host, port: port}, nil
}

// SplitSuffix checks a configured login-server suffix and splits it into the
// DNS name (lower-cased) and the port, if it names one.
func SplitSuffix(s string) (host, port string, err error) {
	host = strings.ToLower(strings.TrimSpace(s))
	if host == "" {
		return "", "", nil
	}
	if h, p, err := net.SplitHostPort(host); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("login-server suffix %q: port %q must be a number from 1 to 65535", s, p)
		}
	}
	host = strings.TrimPrefix(host, ".")
	if !dnsName(host) {
		return "", "", fmt.Errorf("login-server suffix %q must be a DNS name such as registry.example.com, optionally with :port", s)
	}
	return host, port, nil
}

// dnsName reports whether s is a DNS name of letters, digits, hyphens and dots.
func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// HostStyle reports whether host-style login servers are configured.
func (a Addressing) HostStyle() bool { return a.suffix != "" }

// Suffix is the DNS suffix of host-style login servers, without a port (the
// certificate's wildcard and private DNS zones are named after it).
func (a Addressing) Suffix() string { return a.suffix }

// LoginServerSuffix is what comes after "<registry>." in a login server:
// the suffix, with the port when clients must name one.
func (a Addressing) LoginServerSuffix() string {
	if a.suffix == "" || a.port == "" {
		return a.suffix
	}
	return a.suffix + ":" + a.port
}

// HostRegistry returns the registry that host names in host style, lower-cased.
// Any port, or none, matches: the port says how the client got here, not
// which registry it wants.
func (a Addressing) HostRegistry(host string) (string, bool) {
	if a.suffix == "" {
		return "", false
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	if len(host) <= len(a.suffix)+1 || host[len(host)-len(a.suffix)-1] != '.' || !strings.EqualFold(host[len(host)-len(a.suffix):], a.suffix) {
		return "", false
	}
	label := host[:len(host)-len(a.suffix)-1]
	for _, c := range []byte(label) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", false // one DNS label; registry names are letters and digits
		}
	}
	return strings.ToLower(label), true
}

// Split returns the registry and repository that a client's repository name
// addresses on host: in host style the Host names the registry, in path style
// the name's first segment does (as the client wrote it).
func (a Addressing) Split(host, name string) (registry, repo string) {
	if reg, ok := a.HostRegistry(host); ok {
		return reg, name
	}
	registry, repo, _ = strings.Cut(name, "/")
	return registry, repo
}

// LoginServer is the host-style login server of a registry key
// (<key>.<suffix>[:port]); "" in path style.
func (a Addressing) LoginServer(key string) string {
	if a.suffix == "" {
		return ""
	}
	return key + "." + a.LoginServerSuffix()
}

// LoginServerOn is the login server of registry name as a client that sent
// Host host sees it: host style when configured, else <host>/<name>.
func (a Addressing) LoginServerOn(host, name string) string {
	if a.suffix != "" {
		return a.LoginServer(strings.ToLower(name))
	}
	return host + "/" + strings.ToLower(name)
}

// Audience is what the registry tokens of a request on host are bound to:
// the login server in host style, else the host the client used.
func (a Addressing) Audience(host string) string {
	if reg, ok := a.HostRegistry(host); ok {
		return a.LoginServer(reg)
	}
	return strings.ToLower(host)
}
