package oci

import (
	"net"
	"strings"
)

// Addressing tells how a request names its registry: host style
// (<registry>.<suffix>) when the Host ends in a configured suffix, else path
// style (<host>/<registry>/<repository>).
type Addressing struct {
	// Suffix is the login-server suffix of host-style registries ("" = path style only).
	Suffix string
}

// HostRegistry returns the registry named by host in host style.
func (a Addressing) HostRegistry(host string) (string, bool) {
	if a.Suffix == "" {
		return "", false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	label, ok := strings.CutSuffix(strings.ToLower(host), "."+strings.ToLower(a.Suffix))
	if !ok || label == "" || strings.Contains(label, ".") {
		return "", false
	}
	return label, true
}

// Split returns the registry and repository that a client's repository name
// addresses on host.
func (a Addressing) Split(host, name string) (registry, repo string) {
	if reg, ok := a.HostRegistry(host); ok {
		return reg, name
	}
	registry, repo, _ = strings.Cut(name, "/")
	return registry, repo
}
