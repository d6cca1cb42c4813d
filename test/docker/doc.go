// Package docker tests moat with the Docker engine, the client most users
// have: a dockerd of the test's own, started once per run, pushes to and
// pulls from moat servers in both addressing styles, with every way of
// logging in, multi-arch manifest lists and network rules.
//
// Everything runs in network namespaces (package test/netns): moat in one,
// dockerd and every CLI (docker, moat) in another, a client on the internet
// at 16.17.18.19 that reaches moat at 198.51.100.10. No address is a
// loopback one, so dockerd treats the registries as it would real ones:
// plain HTTP only where --insecure-registry says so, TLS verified with the
// CA in /etc/docker/certs.d/<host:port>/ca.crt. dockerd runs with
// --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs and
// its own data root, exec root, pidfile, socket and config file in a
// temporary directory; no container ever runs (images are made in Go in the
// format of `docker save` and loaded with `docker load`). It sees the
// namespace's own /etc/hosts, /etc/resolv.conf and /etc/docker (from
// /etc/netns/<ns>/, as `ip netns exec` shows them to the CLIs), so that
// nothing of the machine's /etc is changed; DOCKER_HOST points the CLI at
// its socket and each simulated user has its own HOME and DOCKER_CONFIG.
//
// The two moat servers:
//   - path style on plain HTTP: `moat serve --listen 198.51.100.10:5000`,
//     images 198.51.100.10:5000/<registry>/<repository>, and dockerd started
//     with --insecure-registry 198.51.100.10:5000;
//   - host style with TLS on a port other than 443: `moat serve --listen
//     198.51.100.10:6204 --tls-auto --login-server-suffix moat.test`, images
//     <registry>.moat.test:6204/<repository>, each registry's name in the
//     namespace's /etc/hosts and moat's CA in its certs.d directory.
//
// Needs root, dockerd and the docker CLI (Debian's docker.io, which
// scripts/install-test-deps installs), ip, nsenter and unshare. Without them
// the tests skip with the reason, or fail under MOAT_E2E=1.
//
// Environment:
//
//	MOAT_E2E=1        missing requirements fail the tests instead of skipping them
//	MOAT_BIN          use this moat binary instead of building ./cmd/moat
//	MOAT_DOCKER_CLI   use this docker CLI (default: the one installed with dockerd)
package docker
