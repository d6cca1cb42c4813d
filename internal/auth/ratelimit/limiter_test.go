package ratelimit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLimiterRefillAndRetry(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(2, time.Minute, 2) // one event per 30 s
	l.now = func() time.Time { return now }
	for i := range 2 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("event %d refused", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait <= 0 || wait > 30*time.Second {
		t.Fatalf("third event: %v %s", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key is throttled")
	}
	now = now.Add(30 * time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("not refilled")
	}
	if New(0, time.Minute, 0) != nil {
		t.Fatal("a zero limit must be off (nil)")
	}
	var off *Limiter
	if ok, _ := off.Allow("x"); !ok {
		t.Fatal("nil limiter refused")
	}
}

// TestLimiterBounded: beyond maxKeys, new keys share the overflow bucket and
// full buckets are forgotten.
func TestLimiterBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(1, time.Hour, 1)
	l.now = func() time.Time { return now }
	for i := range maxKeys {
		l.Allow(strconv.Itoa(i))
	}
	if ok, _ := l.Allow("new1"); !ok {
		t.Fatal("the overflow bucket refused its first key")
	}
	if ok, _ := l.Allow("new2"); ok {
		t.Fatal("untracked keys beyond the bound do not share the overflow bucket")
	}
	if len(l.buckets) > maxKeys+1 {
		t.Fatalf("%d buckets", len(l.buckets))
	}
	now = now.Add(2 * time.Hour)
	l.Allow("fresh")
	if len(l.buckets) > 2 {
		t.Fatalf("full buckets kept: %d", len(l.buckets))
	}
}

// TestLimiterRefund: a refunded event is available again, never beyond the burst.
func TestLimiterRefund(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(2, time.Hour, 2)
	l.now = func() time.Time { return now }
	l.Allow("a")
	l.Allow("a")
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("third event allowed")
	}
	l.Refund("a")
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refunded event refused")
	}
	l.Refund("a")
	l.Refund("a")
	l.Refund("a")
	for i := range 2 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("event %d after refunds refused", i)
		}
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("refunds filled the bucket beyond its burst")
	}
	var off *Limiter
	off.Refund("x")
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{"192.0.2.1": "192.0.2.1", "::ffff:192.0.2.1": "192.0.2.1",
		"2001:db8::1": "2001:db8::/64", "2001:db8::ffff:1": "2001:db8::/64"} {
		if got := AddrKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	if AddrKey(netip.Addr{}) != "unknown" {
		t.Error("invalid address")
	}
}

// TestPeekForm: the handler still reads the whole body after a peek.
func TestPeekForm(t *testing.T) {
	body := "grant_type=password&username=bob&" + strings.Repeat("x", 100<<10)
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if f := PeekForm(r); f.Get("username") != "bob" {
		t.Fatalf("peek: %v", f)
	}
	b, err := io.ReadAll(r.Body)
	if err != nil || string(b) != body {
		t.Fatalf("body after peek: %d bytes, %v", len(b), err)
	}
}

// FuzzPeekForm: peeking never changes the body the handler reads.
func FuzzPeekForm(f *testing.F) {
	f.Add("grant_type=password&username=bob&password=x", "application/x-www-form-urlencoded")
	f.Add("%zz&a=b;c", "application/x-www-form-urlencoded; charset=utf-8")
	f.Add("{}", "application/json")
	f.Fuzz(func(t *testing.T, body, ct string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		PeekForm(r)
		b, err := io.ReadAll(r.Body)
		if err != nil || string(b) != body {
			t.Fatalf("body changed: %q -> %q %v", body, b, err)
		}
	})
}
