// Package e2e holds moat's end-to-end tests. They build the moat binary, start
// `moat serve` on a free loopback port with a temporary data directory, and
// drive it with real OCI clients: crane, oras, regctl and skopeo (installed by
// scripts/install-test-deps), plus plain HTTP requests.
//
// When a client binary is missing the test for it is skipped, unless
// MOAT_E2E=1 is set (as scripts/test does), in which case it fails.
//
// Environment:
//
//	MOAT_E2E=1        missing clients fail the tests instead of skipping them
//	MOAT_BIN          use this moat binary instead of building ./cmd/moat
//	MOAT_TOOLS_BIN    where the clients are (default <repo>/.tools/bin, then PATH)
//	MOAT_E2E_VERBOSE  log every client command and its output
//
// The package uses only the standard library.
package e2e
