package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/spf13/cobra"
)

// The CA a server's certificate chains to (e.g. <data-dir>/tls/ca.pem of
// `moat serve --tls-auto`) is given once, to `moat login --ca-file F`, as az
// is told a cloud's endpoints once with `az cloud register`: the login keeps
// the certificate itself (not the file's path) in the CLI's config, under the
// server's URL, and every later command for that server trusts it.
// --ca-file or MOAT_CA_FILE on a command wins over the remembered one;
// `moat logout` forgets it.

// caFlag is --ca-file, else MOAT_CA_FILE.
func caFlag(cmd *cobra.Command) string {
	if ca, _ := cmd.Flags().GetString("ca-file"); ca != "" {
		return ca
	}
	return os.Getenv("MOAT_CA_FILE")
}

// trustCA makes c trust the CA of --ca-file / MOAT_CA_FILE, else the one
// remembered for c's server, besides the system's.
func (c *client) trustCA(cmd *cobra.Command) error {
	pem, file := []byte(nil), caFlag(cmd)
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("--ca-file: %v", err)
		}
		pem = raw
	} else if cfg, err := loadConfig(); err == nil && cfg.CACertificates[c.base] != "" {
		pem, file = []byte(cfg.CACertificates[c.base]), "the CA remembered by moat login for "+c.base
	}
	if pem == nil {
		return nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("--ca-file %s: no PEM certificate in it", file)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c.http.Transport = tr
	if caFlag(cmd) != "" {
		c.caPEM = pem
	}
	return nil
}

// rememberLogin makes base the default server of later commands and keeps
// the CA given to the login (if any) for it.
func rememberLogin(base string, caPEM []byte) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	cfg.Server = base
	if caPEM != nil {
		if cfg.CACertificates == nil {
			cfg.CACertificates = map[string]string{}
		}
		cfg.CACertificates[base] = string(caPEM)
	}
	return saveConfig(cfg)
}

// forgetCA drops the CA remembered for base.
func forgetCA(base string) error {
	cfg, err := loadConfig()
	if err != nil || cfg.CACertificates[base] == "" {
		return err
	}
	delete(cfg.CACertificates, base)
	return saveConfig(cfg)
}
