// Package tlsauto makes a local certificate authority and a server certificate
// for --tls-auto, so that a self-hosted moat serves HTTPS without outside help.
// The CA is created once in <data-dir>/tls/ and clients trust ca.pem.
package tlsauto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Files are the paths of the generated material.
type Files struct {
	CA, Cert, Key string
}

// Ensure returns a CA (created on first use) and a server certificate valid
// for names (DNS names or IP literals), re-issued when names change or it
// nears expiry.
func Ensure(dir string, names []string) (Files, error) {
	f := Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "server.pem"), Key: filepath.Join(dir, "server-key.pem")}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, err
	}
	caCert, caKey, err := loadOrCreateCA(dir)
	if err != nil {
		return f, err
	}
	if current(f.Cert, names) {
		return f, nil
	}
	return f, issue(f, caCert, caKey, names)
}

func loadOrCreateCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if pair, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok {
			return nil, nil, fmt.Errorf("%s: unexpected key type", keyPath)
		}
		cert, err := x509.ParseCertificate(pair.Certificate[0])
		return cert, key, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("local CA in %s: %w (delete the tls directory to start over)", dir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "moat local CA", Organization: []string{"moat"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePEM(keyPath, "EC PRIVATE KEY", mustMarshal(key), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// current reports whether the certificate at path covers names and is valid for 30 more days.
func current(path string, names []string) bool {
	raw, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		return false
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil || time.Until(c.NotAfter) < 30*24*time.Hour {
		return false
	}
	dns, ips := split(names)
	if !slices.Equal(c.DNSNames, dns) || len(c.IPAddresses) != len(ips) {
		return false
	}
	for i := range ips {
		if !c.IPAddresses[i].Equal(ips[i]) {
			return false
		}
	}
	return true
}

func split(names []string) (dns []string, ips []net.IP) {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		} else if n != "" {
			dns = append(dns, n)
		}
	}
	return dns, ips
}

func issue(f Files, ca *x509.Certificate, caKey *ecdsa.PrivateKey, names []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	dns, ips := split(names)
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "moat", Organization: []string{"moat"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	if err := writePEM(f.Key, "EC PRIVATE KEY", mustMarshal(key), 0o600); err != nil {
		return err
	}
	return writePEM(f.Cert, "CERTIFICATE", der, 0o644)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}

func mustMarshal(k *ecdsa.PrivateKey) []byte {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err) // only fails for unsupported curves
	}
	return b
}

// writePEM writes atomically so a crash never leaves a half-written key.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Names returns the certificate names for listen addresses and a login-server
// suffix: each listener's host (all local addresses for a wildcard), localhost,
// <suffix> with *.<suffix>, and runlogs.blob.<suffix> (task runs' log links).
// Names never carry a port: a suffix that names one (moat.test:6204) gives
// moat.test, *.moat.test and runlogs.blob.moat.test.
func Names(listenAddrs []string, suffix string) []string {
	if h, _, err := net.SplitHostPort(suffix); err == nil {
		suffix = h
	}
	suffix = strings.ToLower(strings.TrimPrefix(suffix, "."))
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	add("localhost")
	for _, a := range listenAddrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		ip := net.ParseIP(host)
		if host == "" || ip != nil && ip.IsUnspecified() {
			add("127.0.0.1")
			add("::1")
			if h, err := os.Hostname(); err == nil {
				add(h)
			}
			if addrs, err := net.InterfaceAddrs(); err == nil {
				for _, ia := range addrs {
					if n, ok := ia.(*net.IPNet); ok {
						add(n.IP.String())
					}
				}
			}
			continue
		}
		add(host)
	}
	if suffix != "" {
		add(suffix)
		add("*." + suffix)
		add("runlogs.blob." + suffix) // task runs' log links (internal/mgmt/runlog.go)
	}
	return out
}
