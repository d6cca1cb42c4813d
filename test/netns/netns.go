// Package netns builds small networks out of real Linux network namespaces
// for moat's end-to-end tests: hosts joined by veth pairs to bridges in one
// router namespace ("fabric"), with addresses and routes, so that a server in
// one namespace sees the true source and destination address of each client.
//
// Nothing is connected to the host's own network namespace: packets between
// the namespaces of a Net never reach a real network, even where they use
// public-looking addresses (16.17.18.19). Name lookups inside the namespaces
// (commands run with Host.Command) read the per-namespace /etc/netns/<ns>/hosts
// and a resolv.conf pointing at the namespace's own loopback, so they cannot
// leave either; the in-process dialer accepts IP literals and Net names only.
//
// Creating namespaces needs root and the `ip` command from iproute2: Require
// skips the test when not root and fails it when `ip` is missing. Everything
// New creates (namespaces, links, /etc/netns entries, processes started in
// the namespaces) is removed by t.Cleanup, also when the test fails.
//
// Standard builds the topology moat's network tests use; see its doc for the
// addresses.
package netns

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Spec describes a network: segments (one bridge each in the router
// namespace, which forwards between them) and hosts with one interface per
// segment they are on.
type Spec struct {
	Segments []Segment
	Hosts    []HostSpec
	// RouterRoutes are extra routes of the router, e.g. a prefix that lives on
	// a host behind a segment (10.77.3.0/24 via 10.77.0.1).
	RouterRoutes []Route
}

// Segment is one layer-2 network: a bridge in the router namespace that
// holds Gateway (the router's address, with the segment's prefix length).
type Segment struct {
	Name    string
	Gateway netip.Prefix
}

// Route sends To via the next hop Via.
type Route struct {
	To  netip.Prefix
	Via netip.Addr
}

// HostSpec is one host (namespace). Its interfaces are eth0, eth1, ... in
// the order of NICs.
type HostSpec struct {
	Name string
	NICs []NIC
}

// NIC is a host interface on a segment. Addrs[0] is the host's address on
// that segment (prefix length = the segment's, unless given otherwise);
// further addresses are extra (e.g. a /32 private-endpoint address). Routes
// are the destinations the host reaches through the segment's gateway.
type NIC struct {
	Segment string
	Addrs   []netip.Prefix
	Routes  []netip.Prefix
}

// Net is a built network.
type Net struct {
	// ID is the random part of every namespace name (moatns-<ID>-<host>).
	ID string
	// Router is the fabric namespace that forwards between segments.
	Router *Host
	hosts  map[string]*Host
	order  []string

	mu    sync.Mutex
	names map[string]netip.Addr // extra host names (AddName)
}

// Host is one namespace of a Net.
type Host struct {
	Name string
	// NS is the namespace name, for `ip netns exec NS ...`.
	NS string
	// Addrs are the host's addresses, the primary one first.
	Addrs []netip.Addr
	net   *Net
}

// Addr is the host's primary address.
func (h *Host) Addr() netip.Addr {
	if len(h.Addrs) == 0 {
		return netip.Addr{}
	}
	return h.Addrs[0]
}

// Require skips t unless the process can create namespaces (root), and fails
// it when `ip` (iproute2) is missing.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "netns: skipping: needs root to create network namespaces")
		t.Skip("needs root to create network namespaces (run the test as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("the `ip` command is missing: install iproute2 (e.g. apt-get install iproute2) to run the network-namespace tests")
	}
}

// New builds spec. It calls Require first.
func New(t testing.TB, spec Spec) *Net {
	t.Helper()
	Require(t)
	var b [3]byte
	_, _ = rand.Read(b[:])
	n := &Net{ID: hex.EncodeToString(b[:]), hosts: map[string]*Host{}, names: map[string]netip.Addr{}}
	n.Router = n.addNS(t, "fabric")
	n.Router.IP(t, "link", "set", "lo", "up")
	n.sysctl(t, n.Router, "net/ipv4/ip_forward", "1")
	seg := map[string]int{}
	for i, s := range spec.Segments {
		if _, dup := seg[s.Name]; dup {
			t.Fatalf("netns: segment %s declared twice", s.Name)
		}
		seg[s.Name] = i
		br := "br" + strconv.Itoa(i)
		n.Router.IP(t, "link", "add", br, "type", "bridge")
		n.Router.IP(t, "addr", "add", s.Gateway.String(), "dev", br)
		n.Router.IP(t, "link", "set", br, "up")
	}
	for hi, hs := range spec.Hosts {
		if _, dup := n.hosts[hs.Name]; dup || hs.Name == "fabric" {
			t.Fatalf("netns: host name %s is taken", hs.Name)
		}
		h := n.addNS(t, hs.Name)
		n.hosts[hs.Name], n.order = h, append(n.order, hs.Name)
		h.IP(t, "link", "set", "lo", "up")
		for ni, nic := range hs.NICs {
			si, ok := seg[nic.Segment]
			if !ok {
				t.Fatalf("netns: host %s: no segment %q", hs.Name, nic.Segment)
			}
			n.attach(t, h, hi, ni, nic, spec.Segments[si], si)
		}
	}
	for _, r := range spec.RouterRoutes {
		n.Router.IP(t, "route", "add", r.To.String(), "via", r.Via.String())
	}
	n.writeHosts(t)
	return n
}

// attach connects interface eth<ni> of h to segment s (bridge br<si>).
func (n *Net) attach(t testing.TB, h *Host, hi, ni int, nic NIC, s Segment, si int) {
	t.Helper()
	dev, peer := "eth"+strconv.Itoa(ni), fmt.Sprintf("v%dn%d", hi, ni)
	run(t, "ip", "link", "add", dev, "netns", h.NS, "type", "veth", "peer", "name", peer, "netns", n.Router.NS)
	n.Router.IP(t, "link", "set", peer, "master", "br"+strconv.Itoa(si), "up")
	for i, a := range nic.Addrs {
		if i == 0 && a.Bits() == a.Addr().BitLen() && s.Gateway.Contains(a.Addr()) {
			a = netip.PrefixFrom(a.Addr(), s.Gateway.Bits())
		}
		h.IP(t, "addr", "add", a.String(), "dev", dev)
		h.Addrs = append(h.Addrs, a.Addr())
	}
	h.IP(t, "link", "set", dev, "up")
	for _, r := range nic.Routes {
		h.IP(t, "route", "add", r.String(), "via", s.Gateway.Addr().String(), "dev", dev)
	}
}

// addNS creates a namespace and registers its removal (processes still in
// it, started by this test, are killed first).
func (n *Net) addNS(t testing.TB, name string) *Host {
	t.Helper()
	h := &Host{Name: name, NS: "moatns-" + n.ID + "-" + name, net: n}
	run(t, "ip", "netns", "add", h.NS)
	t.Cleanup(func() { removeNS(t, h.NS) })
	// Strict reverse-path filtering would drop asymmetric replies.
	n.sysctl(t, h, "net/ipv4/conf/all/rp_filter", "0")
	n.sysctl(t, h, "net/ipv4/conf/default/rp_filter", "0")
	return h
}

func removeNS(t testing.TB, ns string) {
	for range 3 {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
		t.Errorf("netns: removing namespace %s: %v: %s", ns, err, out)
	}
	_ = os.RemoveAll(filepath.Join("/etc/netns", ns))
	_ = os.Remove("/etc/netns") // only when empty: others may use it
}

// sysctl writes /proc/sys/<key> inside h's namespace.
func (n *Net) sysctl(t testing.TB, h *Host, key, value string) {
	t.Helper()
	err := h.Do(func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
	})
	if err != nil {
		t.Fatalf("netns: %s: sysctl %s=%s: %v", h.NS, key, value, err)
	}
}

// Host is the named host; it panics if there is none (a typo in the test).
func (n *Net) Host(name string) *Host {
	h, ok := n.hosts[name]
	if !ok {
		panic("netns: no host " + name)
	}
	return h
}

// Hosts are the hosts in the order of the spec.
func (n *Net) Hosts() []*Host {
	out := make([]*Host, 0, len(n.order))
	for _, name := range n.order {
		out = append(out, n.hosts[name])
	}
	return out
}

// Namespaces are the names of every namespace of n, router included.
func (n *Net) Namespaces() []string {
	out := []string{n.Router.NS}
	for _, h := range n.Hosts() {
		out = append(out, h.NS)
	}
	return out
}

// AddName makes name resolve to a inside every namespace of n (commands read
// /etc/hosts; the in-process dialer reads the same table). Host names of the
// spec resolve to their primary address already.
func (n *Net) AddName(t testing.TB, name string, a netip.Addr) {
	t.Helper()
	n.mu.Lock()
	n.names[strings.ToLower(name)] = a
	n.mu.Unlock()
	n.writeHosts(t)
}

func (n *Net) lookup(name string) (netip.Addr, bool) {
	name = strings.ToLower(name)
	n.mu.Lock()
	a, ok := n.names[name]
	n.mu.Unlock()
	if ok {
		return a, true
	}
	if h, ok := n.hosts[name]; ok {
		return h.Addr(), true
	}
	return netip.Addr{}, false
}

// writeHosts writes /etc/netns/<ns>/hosts and resolv.conf, which `ip netns
// exec` mounts over /etc/hosts and /etc/resolv.conf.
func (n *Net) writeHosts(t testing.TB) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("127.0.0.1 localhost\n::1 localhost\n")
	for _, h := range n.Hosts() {
		fmt.Fprintf(&b, "%s %s\n", h.Addr(), h.Name)
	}
	n.mu.Lock()
	names := make([]string, 0, len(n.names))
	for name := range n.names {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&b, "%s %s\n", n.names[name], name)
	}
	n.mu.Unlock()
	resolv := []byte("# moat netns harness: no DNS server is reachable from here\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
	for _, ns := range n.Namespaces() {
		dir := filepath.Join("/etc/netns", ns)
		var err error
		for range 3 { // another run may remove an empty /etc/netns meanwhile
			if err = os.MkdirAll(dir, 0o755); err == nil {
				err = os.WriteFile(filepath.Join(dir, "hosts"), b.Bytes(), 0o644)
			}
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, "resolv.conf"), resolv, 0o644)
			}
			if err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("netns: %v", err)
		}
	}
}

// IP runs `ip -n <ns> args...` and fails the test on error.
func (h *Host) IP(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"-n", h.NS}, args...)...)
}

// run runs a command in the test's own namespace (only `ip` is run so).
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("netns: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
