package server

import (
	"context"
	"net"
	"testing"

	"github.com/moat-registry/moat/internal/config"
)

// runServer starts a server on cfg and serves it until the test ends.
func runServer(t *testing.T, cfg config.Config) *Server {
	t.Helper()
	srv, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- srv.Run(ctx, func([]net.Addr) { close(ready) }) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	return srv
}
