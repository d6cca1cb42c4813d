// Package azcli drives the real Azure CLI (az) against moat: the `az`
// command sequences of the seed documents, verbatim, as a service principal
// and as a user (testdata/seeds.yaml, docs/azure-cli.md).
package azcli
