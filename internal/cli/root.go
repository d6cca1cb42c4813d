// Package cli is the moat command line: `moat serve` and the az-style
// management commands, which talk to a server's ARM-shaped management API.
package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Main runs the CLI with args and returns the process exit code. Errors are
// printed as one line "ERROR: ..." on stderr, as az does.
func Main(args []string, stdout, stderr io.Writer) int {
	return run(args, nil, stdout, stderr)
}

// run is Main with a standard input for confirmation prompts (nil: os.Stdin).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRoot(stdout, stderr)
	if stdin != nil {
		root.SetIn(stdin)
	}
	args, err := expandArgs(root, args)
	if err == nil {
		root.SetArgs(args)
		err = root.Execute()
	}
	if err != nil {
		fmt.Fprintln(stderr, "ERROR:", oneLine(err.Error()))
		return 1
	}
	return 0
}

// oneLine folds a message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// NewRoot builds the command tree.
func NewRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "moat",
		Short:         "moat: a self-hosted container registry with cloud-grade network access control",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.String("server", "", "management API URL of the moat server (env MOAT_SERVER; default: the server of the last moat login, else http://127.0.0.1:5000)")
	pf.String("ca-file", "", "PEM file of a CA to trust for an https --server, e.g. <data-dir>/tls/ca.pem (env MOAT_CA_FILE); moat login remembers it for the server")
	pf.StringP("output", "o", "json", "output format: json, jsonc, yaml, yamlc, table, tsv or none")
	pf.String("query", "", "JMESPath query string, applied to the result before it is printed")
	pf.String("subscription", "", "name or ID of the subscription (default: the one set with moat account set, else the server's)")
	pf.Bool("only-show-errors", false, "print no warnings, only errors")
	pf.Bool("debug", false, "print every request to the management API on stderr")
	root.AddCommand(newServe(), newACR(), newIdentity(), newML(), newNetwork(), newProvider(), newGroup(), newAccount(),
		newLogin(), newLogout(), newAD(), newRole(), newAudit())
	return root
}

// serverURL is --server, else MOAT_SERVER, else the server last signed in
// to with `moat login`, else the default listener.
func serverURL(cmd *cobra.Command) string {
	if v, _ := cmd.Flags().GetString("server"); v != "" {
		return v
	}
	if v := os.Getenv("MOAT_SERVER"); v != "" {
		return v
	}
	if cfg, err := loadConfig(); err == nil && cfg.Server != "" {
		return cfg.Server
	}
	return "http://127.0.0.1:5000"
}

// newClient returns a client for the server and subscription of cmd's flags.
func newClient(cmd *cobra.Command) (*client, error) {
	sub, _ := cmd.Flags().GetString("subscription")
	c := newClientFor(serverURL(cmd), sub)
	if debug, _ := cmd.Flags().GetBool("debug"); debug {
		c.debug = cmd.ErrOrStderr()
	}
	if err := c.trustCA(cmd); err != nil {
		return nil, err
	}
	return c, nil
}
