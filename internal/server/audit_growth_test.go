package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/postgres/pgtest"
)

// TestAuditGrowthIsBounded (issue 15 item 8): 10,000 anonymous token
// requests from one address are a few rows of the trail whose counts add
// up to 10,000 (not 10,000 rows), and the audit API answers in pages read
// from the database, continued by nextLink — on SQLite and PostgreSQL.
func TestAuditGrowthIsBounded(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { auditGrowth(t, testConfig(t.TempDir())) })
	t.Run("PostgreSQL", func(t *testing.T) {
		cfg := testConfig(t.TempDir())
		cfg.Postgres = pgtest.SchemaDSN(t)
		auditGrowth(t, cfg)
	})
}

func auditGrowth(t *testing.T, cfg config.Config) {
	const flood = 10_000
	cfg.Limits.TokenRequestsPerSecond = 1_000_000 // a client under the request limit: the trail alone must bound it
	n := startNode(t, cfg)
	admin := loginToken(t, n.URL, n.srv.Tenant(), cascadePassword)
	reg := "/subscriptions/" + n.srv.Subscription() + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/floodreg"
	arm := func(method, path, body string) (int, string) {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		return call(t, n, admin, method, path+sep+armVersion(path), body)
	}
	if code, b := arm(http.MethodPut, reg, `{"location":"local","sku":{"name":"Premium"}}`); code >= 300 {
		t.Fatalf("create registry: %d %s", code, b)
	}

	// The flood: anonymous token requests from 203.0.113.5 (startNode's client).
	var issued atomic.Int64
	var wg sync.WaitGroup
	u := n.URL + "/oauth2/token?service=" + strings.TrimPrefix(n.URL, "http://") + "&scope=repository:floodreg/app:pull"
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < flood; i += 8 {
				resp, err := http.Get(u)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					issued.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if issued.Load() != flood {
		t.Fatalf("%d of %d anonymous token requests answered 200", issued.Load(), flood)
	}
	page := func(path string) (evs []audit.Event, next string) {
		code, b := call(t, n, admin, http.MethodGet, path, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		var out struct {
			Value    []audit.Event
			NextLink string
		}
		if err := json.Unmarshal([]byte(b), &out); err != nil {
			t.Fatal(err)
		}
		return out.Value, strings.TrimPrefix(out.NextLink, n.URL)
	}
	tokens, _ := page(reg + "/auditEvents?since=1h&type=token&" + armVersion(reg))
	var total int64
	for _, e := range tokens {
		total += e.Count
		if e.Grant != "anonymous" || e.ClientIP != "203.0.113.5" || e.FirstSeen == nil {
			t.Errorf("token event: %+v", e)
		}
	}
	// One aggregate per minute the flood lasted (it may cross minutes).
	if len(tokens) == 0 || len(tokens) > 5 || total != flood {
		t.Fatalf("%d token events counting %d requests; want a few counting %d", len(tokens), total, flood)
	}
	rows, err := n.srv.meta.ListAudit(context.Background(), meta.AuditQuery{Registry: "floodreg", Limit: 100_000})
	if err != nil || len(rows) > 10 {
		t.Fatalf("%d rows of the registry's trail (%v); want the config event and a few aggregates", len(rows), err)
	}

	// Pages: five rule changes and the creation are six config events,
	// three pages of two, newest first, each page's nextLink the next.
	for i := range 5 {
		body := fmt.Sprintf(`{"properties":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"198.51.100.%d"}]}}}`, i+1)
		if code, b := arm(http.MethodPatch, reg, body); code >= 300 {
			t.Fatalf("rule change: %d %s", code, b)
		}
	}
	var got []audit.Event
	next := reg + "/auditEvents?since=1h&type=config&$top=2&" + armVersion(reg)
	for pages := 0; next != ""; pages++ {
		if pages == 3 {
			t.Fatalf("more than 3 pages of 2 for 6 events: %s", next)
		}
		var evs []audit.Event
		evs, next = page(next)
		if len(evs) != 2 {
			t.Fatalf("page %d: %d events", pages+1, len(evs))
		}
		got = append(got, evs...)
	}
	if len(got) != 6 || string(got[5].Before) != "null" || !strings.Contains(string(got[0].After), "198.51.100.5") {
		t.Fatalf("config events over the pages: %+v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Time.After(got[i-1].Time) || string(got[i].After) == string(got[i-1].After) {
			t.Fatalf("pages out of order or repeated at %d: %+v", i, got)
		}
	}
	if code, b := call(t, n, admin, http.MethodGet, reg+"/auditEvents?$skiptoken=nope&"+armVersion(reg), ""); code != http.StatusBadRequest ||
		!strings.Contains(b, "InvalidSkipToken") {
		t.Fatalf("a page token the server did not give: %d %s", code, b)
	}
}
