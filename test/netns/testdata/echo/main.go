// Command echo is the netns harness's test server and client.
//
//	echo serve -listen ADDR[,ADDR...]   answer every request with the addresses
//	                                    of its connection, as JSON:
//	                                    {"remote":"ip:port","local":"ip:port","host":"..."};
//	                                    prints "listening ADDR" per address, then "ready"
//	echo get URL                        print the body of GET URL (exit 1 on failure)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Reply is what serve answers.
type Reply struct {
	Remote string `json:"remote"`
	Local  string `json:"local"`
	Host   string `json:"host"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: echo serve -listen ADDR[,ADDR...] | echo get URL")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "get":
		err = get(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "", "comma-separated addresses")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		rep := Reply{Remote: r.RemoteAddr, Host: r.Host}
		if local != nil {
			rep.Local = local.String()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rep)
	})
	errc := make(chan error, 1)
	for _, a := range strings.Split(*listen, ",") {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return err
		}
		fmt.Println("listening", ln.Addr())
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- srv.Serve(ln) }()
	}
	fmt.Println("ready")
	return <-errc
}

func get(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: echo get URL")
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Get(args[0])
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", args[0], resp.Status)
	}
	_, err = io.Copy(os.Stdout, resp.Body)
	return err
}
