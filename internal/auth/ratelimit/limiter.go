// Package ratelimit throttles abuse of the sign-in and token endpoints:
// token buckets per client IP (and per claimed principal for failed
// sign-ins), answered with 429 and Retry-After.
package ratelimit

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// maxKeys bounds the memory of one limiter. When it is reached and no bucket
// is idle, new keys share one overflow bucket: an address-rotating client
// then throttles only the overflow, never the clients already tracked.
const maxKeys = 100_000

// overflowKey is the bucket shared by keys beyond maxKeys.
const overflowKey = "\x00overflow"

// Limiter is a set of token buckets keyed by a string (an address or a name).
type Limiter struct {
	perSec float64 // refill rate, events per second
	burst  float64
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
}

// bucket is one token bucket: tokens as of last.
type bucket struct {
	tokens float64
	last   time.Time
}

// at returns the bucket's tokens at now, refilled since last.
func (l *Limiter) at(b *bucket, now time.Time) float64 {
	if now.After(b.last) {
		b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.perSec)
		b.last = now
	}
	return b.tokens
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
	return &Limiter{perSec: float64(perWindow) / window.Seconds(), burst: float64(burst), now: time.Now,
		buckets: map[string]*bucket{}}
}

func (l *Limiter) bucket(key string, now time.Time) *bucket {
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
	b = &bucket{tokens: l.burst, last: now}
	l.buckets[key] = b
	return b
}

// prune forgets full buckets: a full bucket is the same as a new one.
func (l *Limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if l.at(b, now) >= l.burst {
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
	if t := l.at(b, now); t < 1 {
		return false, time.Duration(math.Ceil((1 - t) / l.perSec * float64(time.Second)))
	}
	b.tokens--
	return true, 0
}

// Refund gives back an event that Allow took (a reserved failure allowance
// that turned out not to be a failure).
func (l *Limiter) Refund(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok {
		b.tokens = min(l.burst, l.at(b, l.now())+1)
	} else if b, ok := l.buckets[overflowKey]; ok && len(l.buckets) >= maxKeys {
		b.tokens = min(l.burst, l.at(b, l.now())+1)
	}
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
