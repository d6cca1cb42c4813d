package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newACRAudit is `acr audit`: the registry's audit trail.
func newACRAudit() *cobra.Command {
	return parent("audit", "Query a registry's audit trail (sign-ins, tokens, pushes, pulls, deletes, configuration changes, network denials)",
		leaf(spec{
			use: "list", short: "List a registry's audit events, newest first",
			example: "  moat acr audit list --name myregistry --since 1h\n" +
				"  moat acr audit list --name myregistry --type config --output table",
			group: true, required: []string{"name/-n"},
			flags: func(cmd *cobra.Command) {
				registryNameFlag(cmd)
				cmd.Flags().String("since", "24h", "how far back, as a duration (15m, 1h, 720h)")
				cmd.Flags().String("type", "", "only events of this type: signin, token, push, pull, delete, config, gc or denial")
			},
			table: auditTable,
			run: func(x *exec) (any, error) {
				p, err := x.registryPath("name")
				if err != nil {
					return nil, err
				}
				return listAuditEvents(x, p)
			},
		}))
}

// auditTable is the table of audit events.
func auditTable(v any) []row {
	var rows []row
	for _, e := range objects(v) {
		who := str(e, "principalName")
		if who == "" {
			who = str(e, "principal")
		}
		what := str(e, "repository")
		if ref := str(e, "reference"); ref != "" {
			what += ":" + ref
		}
		if what == "" {
			what = str(e, "grant")
		}
		if r := str(e, "reason"); r != "" {
			what = r
		}
		rows = append(rows, row{{"Time", str(e, "time")}, {"Type", str(e, "type")}, {"Outcome", str(e, "outcome")},
			{"Principal", who}, {"Client IP", str(e, "clientIp")}, {"What", what}, {"Detail", str(e, "detail")}})
	}
	return rows
}

// newAudit is `audit`: the server-wide audit trail (events that name no
// registry, such as sign-ins at the identity authority).
func newAudit() *cobra.Command {
	return parent("audit", "Query the server-wide audit trail (sign-ins at the identity authority, token requests that name no registry)",
		leaf(spec{
			use: "list", short: "List the server-wide audit events, newest first (Owner of the subscription only)",
			example: "  moat audit list --since 1h\n" +
				"  moat audit list --type signin --output table",
			flags: func(cmd *cobra.Command) {
				cmd.Flags().String("since", "24h", "how far back, as a duration (15m, 1h, 720h)")
				cmd.Flags().String("type", "", "only events of this type: signin, token, push, pull, delete, config, gc or denial")
			},
			table: auditTable,
			run: func(x *exec) (any, error) {
				sp, err := x.c.subPath()
				if err != nil {
					return nil, err
				}
				return listAuditEvents(x, sp+"/providers/"+nsACR)
			},
		}))
}

// listAuditEvents gets <p>/auditEvents with --since and --type, every page.
func listAuditEvents(x *exec, p string) (any, error) {
	q := url.Values{"since": {x.str("since")}}
	if t := x.str("type"); t != "" {
		q.Set("type", t)
	}
	return x.c.list(p + "/auditEvents?" + q.Encode()) // pages of the trail, following nextLink
}

// Error codes of check-health, documented in docs/troubleshooting.md.
const (
	codeLoginServer = "LOGIN_SERVER_ERROR"
	codeDNS         = "CONNECTIVITY_DNS_ERROR"
	codeConnect     = "CONNECTIVITY_CONNECTION_ERROR"
	codeTLS         = "CONNECTIVITY_TLS_ERROR"
	codeChallenge   = "CHALLENGE_ERROR"
	codeToken       = "TOKEN_EXCHANGE_ERROR"
	codeDenied      = "NETWORK_DENIED"
	codeWhatIf      = "NETWORK_CHECK_ERROR"
)

// healthCheck is one line of check-health.
type healthCheck struct {
	name, code string
	err        error
	detail     string
}

// acrCheckHealth is `acr check-health`: the path from this machine to a
// registry, one check at a time, each failure with a documented code.
func acrCheckHealth() *cobra.Command {
	return leaf(spec{
		use: "check-health", short: "Check the connection, TLS, challenge, token exchange and network access to a registry from here",
		example: "  moat acr check-health --name myregistry\n  moat acr check-health --name myregistry --ignore-errors",
		group:   true, required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			registryNameFlag(cmd)
			cmd.Flags().Bool("ignore-errors", false, "report every check and exit 0 even when some fail")
		},
		run: runCheckHealth,
	})
}

func runCheckHealth(x *exec) (any, error) {
	out := x.cmd.OutOrStdout()
	var checks []healthCheck
	report := func(c healthCheck) {
		checks = append(checks, c)
		if c.err != nil {
			fmt.Fprintf(out, "%-28s FAIL  %s: %s\n", c.name, c.code, oneLine(c.err.Error()))
			return
		}
		fmt.Fprintf(out, "%-28s OK    %s\n", c.name, c.detail)
	}
	finish := func() (any, error) {
		failed := 0
		for _, c := range checks {
			if c.err != nil {
				failed++
			}
		}
		if failed == 0 {
			fmt.Fprintln(out, "Health check passed.")
			return nil, nil
		}
		fmt.Fprintf(out, "%d of %d checks failed; look the codes up in docs/troubleshooting.md.\n", failed, len(checks))
		if ignore, _ := x.cmd.Flags().GetBool("ignore-errors"); ignore {
			return nil, nil
		}
		var codes []string
		for _, c := range checks {
			if c.err != nil {
				codes = append(codes, c.code)
			}
		}
		return nil, fmt.Errorf("health check failed: %s", strings.Join(codes, ", "))
	}
	base, err := url.Parse(x.c.base)
	if err != nil {
		return nil, err
	}
	loginServer, err := x.loginServer(base)
	if err != nil {
		report(healthCheck{name: "Login server", code: codeLoginServer, err: err})
		return finish()
	}
	report(healthCheck{name: "Login server", detail: loginServer})
	host, _, _ := strings.Cut(loginServer, "/")
	registryURL := base.Scheme + "://" + host
	hostname, port := host, ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		hostname, port = h, p
	}
	if port == "" {
		port = "80"
		if base.Scheme == "https" {
			port = "443"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// DNS.
	addrs, err := net.DefaultResolver.LookupHost(ctx, hostname)
	if err != nil {
		report(healthCheck{name: "DNS lookup", code: codeDNS, err: err})
		return finish()
	}
	report(healthCheck{name: "DNS lookup", detail: hostname + " -> " + strings.Join(addrs, ", ")})
	// TCP connection.
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(hostname, port))
	if err != nil {
		report(healthCheck{name: "Connection", code: codeConnect, err: err})
		return finish()
	}
	report(healthCheck{name: "Connection", detail: "connected to " + conn.RemoteAddr().String() + " from " + conn.LocalAddr().String()})
	// TLS.
	if base.Scheme == "https" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if tr, ok := x.c.http.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
			cfg = tr.TLSClientConfig.Clone()
		}
		cfg.ServerName = hostname
		tc := tls.Client(conn, cfg)
		err := tc.HandshakeContext(ctx)
		if err != nil {
			conn.Close()
			report(healthCheck{name: "TLS handshake", code: codeTLS, err: err})
			return finish()
		}
		st := tc.ConnectionState()
		leaf := st.PeerCertificates[0]
		report(healthCheck{name: "TLS handshake", detail: fmt.Sprintf("%s, certificate %q valid until %s", tls.VersionName(st.Version), leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339))})
	}
	conn.Close()
	// The challenge.
	if err := x.c.checkChallenge(registryURL); err != nil {
		report(healthCheck{name: "Challenge (/v2/)", code: codeChallenge, err: err})
	} else {
		report(healthCheck{name: "Challenge (/v2/)", detail: "401 with a Bearer challenge"})
	}
	// The token exchange for the signed-in user.
	tok, err := x.c.managementToken()
	if err == nil {
		_, err = x.c.exchange(registryURL, loginServer, tok)
	}
	if err != nil {
		report(healthCheck{name: "Token exchange", code: codeToken, err: err})
	} else {
		report(healthCheck{name: "Token exchange", detail: "refresh token issued for " + loginServer})
	}
	// The network what-if for this client as the server sees it.
	p, err := x.registryPath("name")
	var res object
	if err == nil {
		err = x.c.do(http.MethodPost, p+"/checkNetworkAccess", object{"caller": true}, &res)
	}
	switch {
	case err != nil:
		report(healthCheck{name: "Network access", code: codeWhatIf, err: err})
	case str(res, "decision") != "Allow":
		report(healthCheck{name: "Network access", code: codeDenied,
			err: fmt.Errorf("a request from %s (%s path) would be denied: %s", str(res, "clientIp"), str(res, "path"), str(res, "reason"))})
	default:
		detail := fmt.Sprintf("allowed from %s (%s path): %s", str(res, "clientIp"), str(res, "path"), str(res, "reason"))
		report(healthCheck{name: "Network access", detail: detail})
	}
	return finish()
}

// checkChallenge expects GET /v2/ to answer 401 with a Bearer challenge
// whose realm is a token endpoint.
func (c *client) checkChallenge(registryURL string) error {
	req, err := http.NewRequest(http.MethodGet, registryURL+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, raw, err := c.roundTrip(req)
	if err != nil {
		return err
	}
	ch := resp.Header.Get("WWW-Authenticate")
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%s/v2/ answered 403: %s", registryURL, registryError(raw, resp.Status))
	case resp.StatusCode != http.StatusUnauthorized:
		return fmt.Errorf("%s/v2/ answered %s, want 401 with a Bearer challenge", registryURL, resp.Status)
	case !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, "realm="):
		return errors.New("the 401 of /v2/ has no Bearer challenge with a realm (WWW-Authenticate: " + ch + ")")
	}
	return nil
}
