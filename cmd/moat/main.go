// Command moat is the moat registry server and its management CLI.
package main

import (
	"os"

	"github.com/moat-registry/moat/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
