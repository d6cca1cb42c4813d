// Package cli is the moat command line: `moat serve` and the az-style
// management commands, which talk to a server's management API.
package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Main runs the CLI with args and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := NewRoot(stdout, stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(stderr, "ERROR:", err)
		return 1
	}
	return 0
}

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
	root.PersistentFlags().String("server", "", "management API URL of the moat server (env MOAT_SERVER; default http://127.0.0.1:5000)")
	root.PersistentFlags().StringP("output", "o", "json", "output format: json, table, tsv or none")
	root.AddCommand(newServe(), newACR())
	return root
}

// serverURL is --server, else MOAT_SERVER, else the default listener.
func serverURL(cmd *cobra.Command) string {
	if v, _ := cmd.Flags().GetString("server"); v != "" {
		return v
	}
	if v := os.Getenv("MOAT_SERVER"); v != "" {
		return v
	}
	return "http://127.0.0.1:5000"
}
