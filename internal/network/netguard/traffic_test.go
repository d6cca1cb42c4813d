package netguard

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

func trafficStore(t *testing.T) *TrafficLog {
	t.Helper()
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return NewTrafficLog(m)
}

func publicID(i int) netid.Identity {
	return netid.Identity{Path: netid.Public, ClientIP: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})}
}

// TestTrafficBoundedPerRegistryHour: past trafficSources distinct sources
// in a registry-hour, further sources are summed into one Other record;
// another hour and another registry have their own bound; no request is
// lost from the counts.
func TestTrafficBoundedPerRegistryHour(t *testing.T) {
	tl := trafficStore(t)
	ctx := context.Background()
	hour := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	const extra = 50
	for i := 0; i < trafficSources+extra; i++ {
		tl.Allowed("boundreg", "uid-boundreg", publicID(i), "", hour.Add(time.Minute))
		tl.Allowed("boundreg", "uid-boundreg", publicID(i), "", hour.Add(2*time.Minute)) // same source: same record
	}
	if err := tl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A later flush of the same hour keeps the bound (the count is kept
	// across flushes) and merges into the stored records.
	tl.Allowed("boundreg", "uid-boundreg", publicID(trafficSources+extra+1), "", hour.Add(3*time.Minute))
	tl.Allowed("boundreg", "uid-boundreg", publicID(0), "", hour.Add(4*time.Minute))
	tl.Allowed("boundreg", "uid-boundreg", publicID(0), "", hour.Add(time.Hour+time.Minute)) // next hour
	tl.Allowed("otherreg", "uid-otherreg", publicID(7), "obj-1", hour.Add(time.Minute))
	recs, err := tl.List(ctx, "boundreg", "uid-boundreg", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var total, other int64
	perHour := map[time.Time]int{}
	for _, r := range recs {
		total += r.Count
		perHour[r.Hour]++
		if r.ClientIP == Other {
			other = r.Count
		}
		if r.ClientIP == "10.1.0.0" && r.Hour.Equal(hour) && (r.Count != 3 || !r.LastSeen.Equal(hour.Add(4*time.Minute))) {
			t.Errorf("first source: count %d last seen %v, want 3 at +4m", r.Count, r.LastSeen)
		}
	}
	if want := int64(2*(trafficSources+extra) + 3); total != want {
		t.Errorf("total count %d, want %d", total, want)
	}
	if want := int64(2*extra + 1); other != want {
		t.Errorf("other count %d, want %d", other, want)
	}
	if perHour[hour] != trafficSources+1 || perHour[hour.Add(time.Hour)] != 1 {
		t.Errorf("records per hour %v, want %d and 1", perHour, trafficSources+1)
	}
	o, err := tl.List(ctx, "otherreg", "uid-otherreg", time.Time{})
	if err != nil || len(o) != 1 || o[0].Principal != "obj-1" || o[0].Count != 1 {
		t.Fatalf("otherreg: %+v %v", o, err)
	}
}

// TestTrafficSeparatesPrincipalsAndPaths: one address as two principals,
// and a private endpoint, are separate records.
func TestTrafficSeparatesPrincipalsAndPaths(t *testing.T) {
	tl := trafficStore(t)
	now := time.Now()
	id := publicID(1)
	tl.Allowed("r", "uid-r", id, "a", now)
	tl.Allowed("r", "uid-r", id, "b", now)
	tl.Allowed("r", "uid-r", id, "b", now)
	pe := netid.Identity{Path: netid.PrivateEndpoint, ClientIP: netip.MustParseAddr("10.9.0.4"), PrivateEndpoint: "/subscriptions/s/pe"}
	tl.Allowed("r", "uid-r", pe, "a", now)
	recs, err := tl.List(context.Background(), "r", "uid-r", now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range recs {
		got[fmt.Sprintf("%s %s %s %s", r.Path, r.ClientIP, r.PrivateEndpoint, r.Principal)] = r.Count
	}
	want := map[string]int64{"public 10.1.0.1  a": 1, "public 10.1.0.1  b": 2, "privateEndpoint 10.9.0.4 /subscriptions/s/pe a": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records %v, want %v", got, want)
	}
	// A registry created again under the name (another UID) has none of it.
	if again, err := tl.List(context.Background(), "r", "uid-again", time.Time{}); err != nil || len(again) != 0 {
		t.Errorf("another registry of the same name sees %d records (%v)", len(again), err)
	}
}
