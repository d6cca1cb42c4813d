package apiversion

import (
	"slices"
	"strings"
)

// The api-versions moat's own clients (its CLI, portal and tools) send. Each
// published version of a type has its own shape (internal/mgmt/shapes*.go),
// so a client asks for one that has every member moat serves for the type:
// registries 2026-03-01-preview (virtual-network rules, anonymous pull, the
// tasks' bypass), ACR tasks and runs their newest, and every other type one
// of Compat, which shows a type's every member.
const (
	clientRegistry = "2026-03-01-preview"
	clientDefault  = "2025-11-01"
)

// ForClient is the api-version moat's own clients send for a request path.
func ForClient(path string) string {
	key, _ := RequestType(path)
	if !strings.HasPrefix(key, "microsoft.containerregistry/") {
		return clientDefault
	}
	if t, ok := Lookup(key); ok && slices.Equal(t.Versions, ACRTasks) {
		return ACRTasks[len(ACRTasks)-1]
	}
	return clientRegistry
}
