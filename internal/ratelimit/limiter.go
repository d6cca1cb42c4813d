// Package ratelimit throttles abuse of the sign-in and token endpoints:
// token buckets per client IP (and per claimed principal for failed
// sign-ins), answered with 429 and Retry-After.
package ratelimit

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxKeys bounds the memory of one limiter. When it is reached and no bucket
// is idle, new keys share one overflow bucket: an address-rotating client
// then throttles only the overflow, never the clients already tracked.
const maxKeys = 100_000

// overflowKey is the bucket shared by keys beyond maxKeys.
const overflowKey = "\x00overflow"

// Limiter is a set of token buckets keyed by a string (an address or a name).
type Limiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	sweep   time.Time
}

// New returns a limiter refilling perWindow events every window, holding at
// most burst; nil when perWindow <= 0 (no limit).
func New(perWindow int, window time.Duration, burst int) *Limiter {
	if perWindow <= 0 || window <= 0 {
		return nil
	}
	if burst < 1 {
		burst = perWindow
	}
	return &Limiter{limit: rate.Limit(float64(perWindow) / window.Seconds()), burst: burst, now: time.Now,
		buckets: map[string]*rate.Limiter{}}
}

func (l *Limiter) bucket(key string, now time.Time) *rate.Limiter {
	b, ok := l.buckets[key]
	if ok {
		return b
	}
	if len(l.buckets) >= maxKeys {
		l.prune(now)
	}
	if len(l.buckets) >= maxKeys {
		key = overflowKey
		if b, ok := l.buckets[key]; ok {
			return b
		}
	}
	b = rate.NewLimiter(l.limit, l.burst)
	l.buckets[key] = b
	return b
}

// prune forgets full buckets: a full bucket is the same as a new one.
func (l *Limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	l.sweep = now
}

func (l *Limiter) maybePrune(now time.Time) {
	if now.Sub(l.sweep) > time.Minute {
		l.prune(now)
	}
}

// Allow takes one event from key's bucket; when it is empty it returns false
// and how long until an event is allowed again. A nil Limiter allows all.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.maybePrune(now)
	b := l.bucket(key, now)
	if b.AllowN(now, 1) {
		return true, 0
	}
	return false, l.wait(b, now)
}

// Blocked reports, without taking an event, whether key's bucket is empty.
func (l *Limiter) Blocked(key string) (bool, time.Duration) {
	if l == nil {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok || b.TokensAt(now) >= 1 {
		return false, 0
	}
	return true, l.wait(b, now)
}

// Record takes one event from key's bucket if it has one (a failure).
func (l *Limiter) Record(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.maybePrune(now)
	l.bucket(key, now).AllowN(now, 1)
}

func (l *Limiter) wait(b *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - b.TokensAt(now)
	return time.Duration(math.Ceil(missing / float64(l.limit) * float64(time.Second)))
}

// AddrKey is the bucket key of a client address: the address itself for
// IPv4, its /64 for IPv6 (one host usually holds a whole /64).
func AddrKey(a netip.Addr) string {
	a = a.Unmap()
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
