package auth

import (
	"strconv"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t.Parallel()

	t.Run("AllowsBurstThenRefusesWithRetryAfter", func(t *testing.T) {
		t.Parallel()
		now := time.Unix(1000, 0)
		l := NewLimiter(LimitOptions{Burst: 3, Every: time.Minute}, func() time.Time { return now })
		for i := range 3 {
			if ok, _ := l.Allow("ana"); !ok {
				t.Fatalf("attempt %d refused", i+1)
			}
		}
		ok, wait := l.Allow("ana")
		if ok || wait <= 0 || wait > time.Minute {
			t.Fatalf("4th attempt: ok=%v wait=%v; want refused within a minute", ok, wait)
		}
		if ok, _ := l.Allow("bob"); !ok {
			t.Fatal("another key was refused")
		}
		now = now.Add(wait)
		if ok, _ := l.Allow("ana"); !ok {
			t.Fatal("refused after waiting Retry-After")
		}
		if ok, _ := l.Allow("ana"); ok {
			t.Fatal("one wait bought two attempts")
		}
	})

	t.Run("ResetForgetsAKey", func(t *testing.T) {
		t.Parallel()
		l := NewLimiter(LimitOptions{Burst: 1, Every: time.Hour}, nil)
		l.Allow("ana")
		l.Reset("ana")
		if ok, _ := l.Allow("ana"); !ok {
			t.Fatal("refused after Reset")
		}
	})

	t.Run("BoundsItsMemory", func(t *testing.T) {
		t.Parallel()
		l := NewLimiter(LimitOptions{Burst: 2, Every: time.Hour, MaxKeys: 100}, nil)
		for i := range 10_000 {
			l.Allow("ip-" + strconv.Itoa(i))
		}
		if n := l.Len(); n > 100 {
			t.Fatalf("%d keys tracked, cap is 100", n)
		}
	})
}

func TestLimiterRefill(t *testing.T) {
	t.Parallel()

	t.Run("GivesBackOneAttemptEveryInterval", func(t *testing.T) {
		t.Parallel()
		now := time.Unix(1000, 0)
		l := NewLimiter(LimitOptions{Burst: 2, Every: time.Minute}, func() time.Time { return now })
		l.Allow("ana")
		l.Allow("ana")
		if ok, wait := l.Allow("ana"); ok || wait != time.Minute {
			t.Fatalf("empty bucket: ok=%v wait=%v; want refused for a minute", ok, wait)
		}
		now = now.Add(30 * time.Second)
		if ok, wait := l.Allow("ana"); ok || wait != 30*time.Second {
			t.Fatalf("half refilled: ok=%v wait=%v; want refused for 30s", ok, wait)
		}
		now = now.Add(90 * time.Second)
		for i := range 2 {
			if ok, _ := l.Allow("ana"); !ok {
				t.Fatalf("attempt %d refused after a full refill", i+1)
			}
		}
	})

	t.Run("EvictsFullBucketsFirst", func(t *testing.T) {
		t.Parallel()
		now := time.Unix(1000, 0)
		l := NewLimiter(LimitOptions{Burst: 1, Every: time.Minute, MaxKeys: 2}, func() time.Time { return now })
		l.Allow("old")
		now = now.Add(time.Hour)
		l.Allow("busy")
		l.Allow("new")
		if ok, _ := l.Allow("busy"); ok {
			t.Fatal("a busy key's bucket was dropped while a full one could go")
		}
	})
}
