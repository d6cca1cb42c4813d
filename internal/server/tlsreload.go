package server

import (
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
)

// certStore serves the TLS certificate of every listener and reloads it from
// its files on SIGHUP (Server.Reload); handshakes read it atomically.
type certStore struct {
	mu        sync.Mutex // serialises reloads
	cert, key string
	cur       atomic.Pointer[tls.Certificate]
}

func newCertStore(cert, key string) (*certStore, error) {
	c := &certStore{cert: cert, key: key}
	if err := c.reload(cert, key); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files (new paths when given); on error the previous
// certificate stays in use.
func (c *certStore) reload(cert, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert == "" {
		cert, key = c.cert, c.key
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return fmt.Errorf("TLS certificate %s / key %s: %w", cert, key, err)
	}
	c.cert, c.key = cert, key
	c.cur.Store(&pair)
	return nil
}

func (c *certStore) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

func (c *certStore) config() *tls.Config {
	return &tls.Config{GetCertificate: c.get, MinVersion: tls.VersionTLS12}
}
