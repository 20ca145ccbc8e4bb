package ephemeral

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// tlog records what a Tracker reports, as "+user", "-user", "-user(expired)"
// and "~user" (resend), with the fake time since the start.
type tlog struct {
	mu    sync.Mutex
	clock *fakeClock
	start time.Time
	lines []string
}

func (l *tlog) add(prefix string) func(TypingChange) {
	return func(c TypingChange) {
		l.mu.Lock()
		defer l.mu.Unlock()
		p := prefix
		if p == "" {
			p = "-"
			if c.Typing {
				p = "+"
			}
		}
		s := fmt.Sprintf("%s %s%s", l.clock.Now().Sub(l.start), p, c.UserID)
		if c.Expired {
			s += "(expired)"
		}
		l.lines = append(l.lines, s)
	}
}

func (l *tlog) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, ", ")
}

func TestTracker(t *testing.T) {
	type step struct {
		at     time.Duration
		user   string
		typing bool
	}
	cases := map[string]struct {
		resend time.Duration
		steps  []step
		until  time.Duration
		want   string
	}{
		"start then stop": {
			steps: []step{{0, "@a", true}, {5 * time.Second, "@a", false}},
			until: time.Minute,
			want:  "0s +@a, 5s -@a",
		},
		"expires after the timeout": {
			steps: []step{{0, "@a", true}},
			until: time.Minute,
			want:  "0s +@a, 30s -@a(expired)",
		},
		"refresh moves the expiry and is not reported": {
			steps: []step{{0, "@a", true}, {20 * time.Second, "@a", true}, {40 * time.Second, "@a", true}},
			until: 2 * time.Minute,
			want:  "0s +@a, 1m10s -@a(expired)",
		},
		"stop when not typing does nothing": {
			steps: []step{{0, "@a", false}},
			until: time.Minute,
			want:  "",
		},
		"typing again after expiry starts anew": {
			steps: []step{{0, "@a", true}, {45 * time.Second, "@a", true}},
			until: 2 * time.Minute,
			want:  "0s +@a, 30s -@a(expired), 45s +@a, 1m15s -@a(expired)",
		},
		"users are independent": {
			steps: []step{{0, "@a", true}, {10 * time.Second, "@b", true}, {15 * time.Second, "@a", false}},
			until: time.Minute,
			want:  "0s +@a, 10s +@b, 15s -@a, 40s -@b(expired)",
		},
		"resend while still typing": {
			resend: 10 * time.Second,
			steps:  []step{{0, "@a", true}, {8 * time.Second, "@a", true}, {16 * time.Second, "@a", true}, {24 * time.Second, "@a", true}},
			until:  2 * time.Minute,
			want:   "0s +@a, 10s ~@a, 20s ~@a, 30s ~@a, 40s ~@a, 50s ~@a, 54s -@a(expired)",
		},
		"no resend once stopped": {
			resend: 10 * time.Second,
			steps:  []step{{0, "@a", true}, {5 * time.Second, "@a", false}},
			until:  time.Minute,
			want:   "0s +@a, 5s -@a",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			clock := newFakeClock()
			log := &tlog{clock: clock, start: clock.Now()}
			tr := NewTracker(TrackerConfig{Timeout: 30 * time.Second, Resend: c.resend, Clock: clock,
				OnChange: log.add(""), OnResend: log.add("~")})
			defer tr.Close()
			var elapsed time.Duration
			for _, s := range c.steps {
				clock.Advance(s.at - elapsed)
				elapsed = s.at
				tr.Set("!r", s.user, s.typing)
			}
			clock.Advance(c.until - elapsed)
			if got := log.get(); got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestTrackerUsersAndSet(t *testing.T) {
	clock := newFakeClock()
	tr := NewTracker(TrackerConfig{Clock: clock})
	if !tr.Set("!r", "@b", true) || !tr.Set("!r", "@a", true) || !tr.Set("!s", "@c", true) {
		t.Fatal("starting to type did not report a change")
	}
	if tr.Set("!r", "@a", true) {
		t.Fatal("a refresh reported a change")
	}
	if got := tr.Users("!r"); !slices.Equal(got, []string{"@a", "@b"}) {
		t.Fatalf("Users(!r) = %q", got)
	}
	if !tr.Typing("!s", "@c") || tr.Typing("!s", "@a") {
		t.Fatal("Typing is wrong")
	}
	clock.Advance(DefaultTypingTimeout)
	if got := tr.Users("!r"); len(got) != 0 {
		t.Fatalf("Users after the default timeout: %q", got)
	}
	tr.Set("!r", "@a", true)
	tr.Close()
	if tr.Set("!r", "@b", true) || len(tr.Users("!r")) != 0 {
		t.Fatal("Set works after Close")
	}
}

func TestTrackerCloseStopsCallbacks(t *testing.T) {
	clock := newFakeClock()
	calls := 0
	tr := NewTracker(TrackerConfig{Timeout: time.Second, Resend: 100 * time.Millisecond, Clock: clock,
		OnChange: func(TypingChange) { calls++ }, OnResend: func(TypingChange) { calls++ }})
	tr.Set("!r", "@a", true)
	tr.Close()
	clock.Advance(time.Minute)
	if calls != 1 {
		t.Fatalf("%d callbacks, want only the start", calls)
	}
}

func TestResendInterval(t *testing.T) {
	cases := map[string]struct{ timeout, want time.Duration }{
		"default timeout": {DefaultTypingTimeout, 15 * time.Second},
		"short timeout":   {time.Second, 500 * time.Millisecond},
		"long timeout":    {5 * time.Minute, 20 * time.Second},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := ResendInterval(c.timeout); got != c.want {
				t.Fatalf("ResendInterval(%s) = %s, want %s", c.timeout, got, c.want)
			}
		})
	}
}

// TestTrackerConcurrent drives a Tracker on the system clock from many
// goroutines; -race checks the locking, and per user the reported changes
// alternate start/stop.
func TestTrackerConcurrent(t *testing.T) {
	var mu sync.Mutex
	last := map[string]bool{}
	bad := 0
	tr := NewTracker(TrackerConfig{Timeout: 3 * time.Millisecond, Resend: time.Millisecond,
		OnChange: func(c TypingChange) {
			mu.Lock()
			defer mu.Unlock()
			if last[c.UserID] == c.Typing {
				bad++
			}
			last[c.UserID] = c.Typing
		},
		OnResend: func(TypingChange) {},
	})
	var wg sync.WaitGroup
	for u := range 6 {
		wg.Go(func() {
			user := fmt.Sprintf("@u%d", u)
			for i := range 200 {
				tr.Set("!r", user, i%3 != 2)
				_ = tr.Users("!r")
				if i%20 == 0 {
					time.Sleep(2 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(10 * time.Millisecond)
	tr.Close()
	mu.Lock()
	defer mu.Unlock()
	if bad != 0 {
		t.Fatalf("%d changes repeated the previous state", bad)
	}
}
