package azcli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/pires/go-proxyproto"
)

// The seeds' "verify access" steps run on a VM in the registry's subnet, and
// later on the same VM seen by its public IP. The test plays the VM with two
// loopback addresses, each with a proxy that tells moat (PROXY protocol v1,
// from an address moat trusts) where the connection comes from:
//
//	127.0.0.2:port -> 127.0.0.1:vnetPort, the listener of the VM's virtual
//	                  network, as 10.0.0.4 (the VM's address in myDockerVMSubnet)
//	127.0.0.3:port -> 127.0.0.1:port, the public listener, as 23.45.1.7 (the
//	                  VM's public IP), dialled from 127.0.0.3 (the trusted proxy)
//
// A step's /etc/hosts points every name at the address of where it runs.
const (
	hostIP          = "127.0.0.1"
	vmSubnetProxyIP = "127.0.0.2"
	vmPublicProxyIP = "127.0.0.3"
	vmPrivateIP     = "10.0.0.4"
	vmPublicIP      = "23.45.1.7"
)

// addressOf is the address a step's names resolve to.
func addressOf(on string) string {
	switch on {
	case onVM:
		return vmSubnetProxyIP
	case onVMPublic:
		return vmPublicProxyIP
	}
	return hostIP
}

func startVMProxies(t *testing.T, port, vnetPort int) {
	t.Helper()
	startProxy(t, fmt.Sprintf("%s:%d", vmSubnetProxyIP, port), fmt.Sprintf("127.0.0.1:%d", vnetPort), "", vmPrivateIP)
	startProxy(t, fmt.Sprintf("%s:%d", vmPublicProxyIP, port), fmt.Sprintf("127.0.0.1:%d", port), vmPublicProxyIP, vmPublicIP)
}

// startProxy forwards connections from listen to target, dialling from
// localIP (any when ""), after a PROXY v1 header that names client as the
// source.
func startProxy(t *testing.T, listen, target, localIP, client string) {
	t.Helper()
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("the VM proxy cannot listen on %s: %v", listen, err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	dialer := net.Dialer{}
	if localIP != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				relay(c, &dialer, target, client)
			}()
		}
	}()
}

func relay(c net.Conn, dialer *net.Dialer, target, client string) {
	defer c.Close()
	up, err := dialer.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	src := &net.TCPAddr{IP: net.ParseIP(client), Port: c.RemoteAddr().(*net.TCPAddr).Port}
	if _, err := proxyproto.HeaderProxyFromAddrs(1, src, c.LocalAddr()).WriteTo(up); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok && (err == nil || errors.Is(err, net.ErrClosed)) {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}
