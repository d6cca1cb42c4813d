package portal_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestPortalLocks locks a tag and a repository on the Repositories page and
// checks the effect through the data plane: the locked tag takes no push,
// the repository cannot be deleted, an unlisted repository leaves the list
// but can still be opened by name and unlocked.
func TestPortalLocks(t *testing.T) {
	e := start(t)
	ctx := browser(t)
	shots := screenshotDir(t)
	e.api("PUT", e.registryID("lockweb"), map[string]any{"location": "local", "sku": map[string]string{"name": "Premium"}})
	e.push("lockweb", "hello", "v1")
	e.push("lockweb", "hello", "v2")
	signInWith(t, ctx, e.base, "admin", adminPassword)
	page := e.base + "/portal/registries/default/lockweb/repositories?repo=hello"
	run(t, ctx, "repositories page", chromedp.Navigate(page), chromedp.WaitVisible("#locks-h", chromedp.ByID))
	expectContains(t, "repositories before", text(t, ctx, "#repos"), "hello\t2\tnone")

	// Lock tag v1: no write, no delete.
	v1 := `form:has(input[name=tag][value=v1])`
	run(t, ctx, "lock tag v1",
		chromedp.Click(v1+` input[name=write]`, chromedp.ByQuery),
		chromedp.Click(v1+` input[name=delete]`, chromedp.ByQuery),
		chromedp.Click(`button[aria-label="Save the locks of tag v1"]`, chromedp.ByQuery),
		waitNotice("Lock state saved"))
	tags := text(t, ctx, "#tags")
	if !strings.Contains(tags, "no write, no delete") || strings.Count(tags, "none") < 1 {
		t.Fatalf("tags after locking v1: %q", tags)
	}
	screenshot(t, ctx, shots, "locks")
	host := strings.TrimPrefix(e.base, "http://")
	tok := e.registryToken(host, "repository:lockweb/hello:pull,push,delete")
	e.data(host, tok, http.MethodDelete, "/v2/lockweb/hello/manifests/v1", "", nil, http.StatusMethodNotAllowed)

	// The repository: no delete, and unlisted.
	run(t, ctx, "lock the repository", clearNotice(),
		chromedp.Click(`#locks-h ~ form input[name=delete]`, chromedp.ByQuery),
		chromedp.Click(`#locks-h ~ form input[name=list]`, chromedp.ByQuery),
		chromedp.Click("#save-repo-locks", chromedp.ByID),
		waitNotice("Lock state saved"))
	expectContains(t, "repository opened by name", text(t, ctx, "#repos"), "no delete, no list")
	mtok := e.registryToken(host, "repository:lockweb/hello:delete")
	e.data(host, mtok, http.MethodDelete, "/acr/v1/lockweb/hello", "", nil, http.StatusMethodNotAllowed)
	run(t, ctx, "repository list without the unlisted one",
		chromedp.Navigate(e.base+"/portal/registries/default/lockweb/repositories"), chromedp.WaitVisible("#repos-h", chromedp.ByID))
	var main string
	run(t, ctx, "read the page", chromedp.Text("main", &main, chromedp.ByQuery))
	if strings.Contains(main, "hello") {
		t.Fatalf("an unlisted repository is listed: %q", main)
	}

	// Unlock everything again.
	run(t, ctx, "unlock the repository",
		chromedp.Navigate(page), chromedp.WaitVisible("#locks-h", chromedp.ByID),
		chromedp.Click(`#locks-h ~ form input[name=delete]`, chromedp.ByQuery),
		chromedp.Click(`#locks-h ~ form input[name=list]`, chromedp.ByQuery),
		chromedp.Click("#save-repo-locks", chromedp.ByID),
		waitNotice("Lock state saved"))
	run(t, ctx, "unlock v1 by name", clearNotice(),
		chromedp.SendKeys("#tag-name", "v1", chromedp.ByID),
		chromedp.Click("#save-tag-locks", chromedp.ByID),
		waitNotice("Lock state saved"))
	expectContains(t, "repositories after", text(t, ctx, "#repos"), "hello\t2\tnone")
	if tags := text(t, ctx, "#tags"); strings.Contains(tags, "no ") {
		t.Fatalf("tags after unlocking: %q", tags)
	}
	e.data(host, tok, http.MethodDelete, "/v2/lockweb/hello/manifests/v1", "", nil, http.StatusAccepted)
}
