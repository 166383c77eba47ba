package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// LimitOptions configures a [Limiter]: a token bucket per key.
type LimitOptions struct {
	// Burst is how many attempts a key may make at once.
	Burst int
	// Every is how often one attempt is given back.
	Every time.Duration
	// MaxKeys caps the memory: past it, buckets that have refilled are dropped, then arbitrary ones.
	// Defaults to 100,000.
	MaxKeys int
}

// Limiter is an in-memory rate limiter keyed by string (an account, an address): one
// golang.org/x/time/rate token bucket per key. It is per process: behind several replicas each
// keeps its own count.
type Limiter struct {
	opts LimitOptions
	now  func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// NewLimiter returns a limiter; now defaults to time.Now.
func NewLimiter(opts LimitOptions, now func() time.Time) *Limiter {
	if opts.Burst <= 0 {
		opts.Burst = 1
	}
	if opts.Every <= 0 {
		opts.Every = time.Second
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 100_000
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{opts: opts, now: now, buckets: map[string]*rate.Limiter{}}
}

// Allow takes one attempt from key's bucket. When the bucket is empty it returns false and how long
// until the next attempt is allowed.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.opts.MaxKeys {
			l.evict(now)
		}
		b = rate.NewLimiter(rate.Every(l.opts.Every), l.opts.Burst)
		l.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, l.opts.Every
	}
	if wait := r.DelayFrom(now); wait > 0 {
		// A refused attempt takes nothing: the reservation goes back.
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// Reset forgets key (after a successful login, the account's failures no longer count).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}

// Len returns how many keys are tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// evict drops full buckets (they mean nothing), and when none is full, an arbitrary tenth of the
// map, so that memory stays bounded whatever an attacker sends.
func (l *Limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.opts.Burst) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < l.opts.MaxKeys {
		return
	}
	drop := max(1, l.opts.MaxKeys/10)
	for k := range l.buckets {
		delete(l.buckets, k)
		if drop--; drop == 0 {
			break
		}
	}
}
