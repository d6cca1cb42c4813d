// Package depcheck holds the rules that keep moat's package tree showing its
// request flow: the data plane never reaches into the management plane, the
// access decision stays free of HTTP, and the store interfaces stay free of
// cloud SDKs and database drivers. depcheck_test.go checks them against
// `go list -deps`; when packages move, update the table here.
package depcheck

// Module is the import path every "internal/..." or "cmd/..." pattern is
// relative to.
const Module = "github.com/moat-registry/moat"

// Rule forbids the packages matched by From to import the packages matched by
// Forbid. Patterns are import paths; "x/..." matches x and every package below
// it; patterns starting with "internal/", "cmd/", "tools/" or "test/" are
// relative to Module. Direct rules look only at a package's own imports,
// the others at everything it depends on (its own test files excluded).
type Rule struct {
	Name   string
	From   []string
	Forbid []string
	Direct bool
}

// dataPlane are the packages that serve /v2/, /acr/v1/ and /oauth2/: the
// registry API, its gate, its decision and what they stand on.
var dataPlane = []string{
	"internal/oci/...",
	"internal/acrapi/...",
	"internal/network/netguard/...",
	"internal/network/policy/...",
	"internal/target/...",
	"internal/auth/regauth/...",
	"internal/auth/scopemap/...",
	"internal/regindex/...",
	"internal/addressing/...",
	"internal/network/netid/...",
	"internal/network/netrule/...",
	"internal/network/ruleexpiry/...",
	"internal/auth/token/...",
	"internal/auth/identity/...",
	"internal/auth/rbac/...",
	"internal/auth/ratelimit/...",
	"internal/auth/authority/...",
	"internal/store/...",
	"internal/store/meta/...",
	"internal/store/blob/...",
	"internal/gc/...",
	"internal/tasks/...",
	"internal/audit/...",
}

// cloudSDKs are the SDKs and drivers only a store implementation may use.
var cloudSDKs = []string{
	"github.com/aws/...",
	"github.com/Azure/...",
	"github.com/jackc/...",
	"github.com/minio/...",
	"cloud.google.com/...",
	"modernc.org/sqlite/...",
	"github.com/lib/pq/...",
}

// Rules is the table the test checks.
var Rules = []Rule{
	{
		Name:   "the data plane never imports the management plane, the portal, the CLI or the wiring",
		From:   dataPlane,
		Forbid: []string{"internal/mgmt/...", "internal/portal/...", "internal/cli/...", "internal/server/...", "cmd/..."},
	},
	{
		// Transitively the decision still reaches net/http through
		// netid.Identity (netid also holds the listeners); splitting the
		// identity type out of netid makes this rule transitive.
		Name:   "the access decision imports no net/http",
		From:   []string{"internal/network/policy/..."},
		Forbid: []string{"net/http/..."},
		Direct: true,
	},
	{
		Name:   "the access decision depends on no handler, store or token package",
		From:   []string{"internal/network/policy/..."},
		Forbid: []string{"internal/oci/...", "internal/acrapi/...", "internal/network/netguard/...", "internal/auth/regauth/...", "internal/store/meta/...", "internal/store/blob/...", "internal/auth/token/...", "internal/target/..."},
	},
	{
		Name: "the store interfaces import no cloud SDK or database driver (only their implementations do)",
		From: []string{"internal/store", "internal/store/storetest", "internal/store/meta", "internal/store/meta/metatest",
			"internal/store/blob", "internal/store/blob/blobtest"},
		Forbid: cloudSDKs,
	},
	{
		Name:   "the product never imports the load generator or the test harnesses",
		From:   []string{"internal/...", "cmd/..."},
		Forbid: []string{"tools/...", "test/..."},
	},
}
