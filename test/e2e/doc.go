// Package e2e holds moat's end-to-end tests. They build the moat binary, start
// `moat serve` on a free loopback port with a temporary data directory, and
// drive it with real OCI clients: crane, oras, regctl, skopeo and podman (installed by
// scripts/install-test-deps), plus plain HTTP requests.
//
// The data plane needs registry tokens (the Docker token flow). The server is
// started with a random administrator password (MOAT_ADMIN_PASSWORD); it is
// ready when GET /v2/ without a token answers 401 with a Bearer challenge.
// Each client logs in as admin with its own login command, in a private HOME
// (DOCKER_CONFIG, XDG_* and the moat CLI's HOME included), and the run fails
// if the user's real credential files (~/.docker/config.json, ...) changed.
// The HTTP tests get their tokens from /oauth2/token and also check what must
// be refused: no token, bad credentials, forged, tampered or expired tokens,
// tokens for another host or another registry's repositories.
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
// The package uses the standard library, except mint_test.go, which signs
// tokens with a stopped server's own key (moat's token and metadata packages)
// to test expiry.
package e2e
