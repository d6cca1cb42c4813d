package netns

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

type reply struct {
	Remote string `json:"remote"`
	Local  string `json:"local"`
	Host   string `json:"host"`
}

func hostOf(t *testing.T, hostport string) netip.Addr {
	t.Helper()
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		t.Fatalf("bad address %q: %v", hostport, err)
	}
	return ap.Addr().Unmap()
}

// TestStandardTopology proves the harness: a server in the moat namespace
// sees, for each client namespace, the source address the topology gives
// that client and the destination address it dialled.
func TestStandardTopology(t *testing.T) {
	n := Standard(t)
	echo := BuildGo(t, "./testdata/echo")
	moat := n.Host(Moat)
	srv := moat.Start(t, echo, "serve", "-listen",
		MoatPublicIP.String()+":8080,"+MoatVNetIP.String()+":8080,"+PrivateEndpointIP.String()+":8080")
	srv.WaitFor(t, "ready", 30*time.Second)

	cases := []struct {
		from string
		to   netip.Addr
		src  netip.Addr
	}{
		{Internet, MoatPublicIP, InternetIP},
		{LB, MoatPublicIP, LBIP},
		{CorpA, MoatVNetIP, CorpAIP},
		{CorpB, MoatVNetIP, CorpBIP},
		{PEClient, PrivateEndpointIP, PEClientIP},
		{CorpA, PrivateEndpointIP, CorpAIP},
		{CorpB, MoatPublicIP, CorpBIP},
	}
	for _, tc := range cases {
		url := "http://" + net.JoinHostPort(tc.to.String(), "8080") + "/"
		t.Run(tc.from+"->"+tc.to.String(), func(t *testing.T) {
			h := n.Host(tc.from)
			check := func(how string, body []byte) {
				t.Helper()
				var r reply
				if err := json.Unmarshal(body, &r); err != nil {
					t.Fatalf("%s: %v: %s", how, err, body)
				}
				if got := hostOf(t, r.Remote); got != tc.src {
					t.Errorf("%s: server saw source %s, topology says %s", how, got, tc.src)
				}
				if got := hostOf(t, r.Local); got != tc.to {
					t.Errorf("%s: server saw destination %s, client dialled %s", how, got, tc.to)
				}
			}
			// A process in the client namespace (ip netns exec).
			check("ip netns exec", []byte(h.Run(t, echo, "get", url)))
			// The test process dialling from inside the namespace.
			resp, err := h.HTTPClient().Get(url)
			if err != nil {
				t.Fatalf("in-process client: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			check("in-process", body)
		})
	}

	t.Run("names resolve inside namespaces", func(t *testing.T) {
		n.AddName(t, "reg.registry.example.com", MoatPublicIP)
		out := n.Host(Internet).Run(t, echo, "get", "http://reg.registry.example.com:8080/")
		var r reply
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.Host != "reg.registry.example.com:8080" || hostOf(t, r.Remote) != InternetIP {
			t.Fatalf("by name: %v %s", err, out)
		}
		req, _ := http.NewRequest("GET", "http://reg.registry.example.com:8080/", nil)
		resp, err := n.Host(Internet).HTTPClient().Do(req)
		if err != nil {
			t.Fatalf("in-process by name: %v", err)
		}
		resp.Body.Close()
		if _, err := n.Host(Internet).DialContext(context.Background(), "tcp", "example.com:80"); err == nil {
			t.Fatal("in-process dialer resolved a name that is not the network's")
		}
	})

	t.Run("the internet cannot reach the virtual network", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, to := range []netip.Addr{MoatVNetIP, PrivateEndpointIP, CorpAIP} {
			if out, err := n.Host(Internet).Output(ctx, echo, "get", "http://"+net.JoinHostPort(to.String(), "8080")+"/"); err == nil {
				t.Errorf("internet host reached %s: %s", to, out)
			}
		}
	})

	t.Run("in-process listener inside a namespace", func(t *testing.T) {
		ln, err := moat.Listen("tcp", net.JoinHostPort(MoatVNetIP.String(), "9090"))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.RemoteAddr)
		}), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		resp, err := n.Host(CorpB).HTTPClient().Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := hostOf(t, string(body)); got != CorpBIP {
			t.Fatalf("in-process server saw %s, want %s", got, CorpBIP)
		}
	})
}

// TestCleanup checks that a topology and the processes in it are gone once
// the test that built it has ended.
func TestCleanup(t *testing.T) {
	Require(t)
	var names []string
	var pid int
	t.Run("build", func(t *testing.T) {
		n := Standard(t)
		names = n.Namespaces()
		// A process left running on purpose: the harness must end it.
		cmd := n.Host(CorpA).Command(context.Background(), "sleep", "600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid = cmd.Process.Pid
		go cmd.Wait()
	})
	if len(names) == 0 {
		t.Fatal("nothing was built")
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range names {
		if strings.Contains(string(out), ns) {
			t.Errorf("namespace %s still exists", ns)
		}
		if _, err := os.Stat(filepath.Join("/etc/netns", ns)); err == nil {
			t.Errorf("/etc/netns/%s still exists", ns)
		}
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
		if b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat")); !strings.Contains(string(b), ") Z ") {
			t.Errorf("process %d started in the namespace is still running", pid)
		}
	}
}
