package ephemeral

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/storage"
)

type flushed struct {
	dest, room string
	rs         []storage.Receipt
}

type flushLog struct {
	mu  sync.Mutex
	all []flushed
}

func (l *flushLog) flush(dest, room string, rs []storage.Receipt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, flushed{dest, room, rs})
}

func (l *flushLog) get() []flushed {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

func read(room, user, event string, ts int64) storage.Receipt {
	return storage.Receipt{RoomID: room, UserID: user, Type: ReadReceipt, EventID: event, TS: ts}
}

func TestCoalescer(t *testing.T) {
	type add struct {
		at   time.Duration // since the start
		dest string
		r    storage.Receipt
	}
	cases := map[string]struct {
		adds []add
		want []flushed // in flush order
	}{
		"one receipt, one EDU after the window": {
			adds: []add{{0, "b", read("!r", "@a:x", "$1", 1)}},
			want: []flushed{{"b", "!r", []storage.Receipt{read("!r", "@a:x", "$1", 1)}}},
		},
		"a burst of one user: the newest wins": {
			adds: []add{
				{0, "b", read("!r", "@a:x", "$1", 1)},
				{10 * time.Millisecond, "b", read("!r", "@a:x", "$3", 3)},
				{20 * time.Millisecond, "b", read("!r", "@a:x", "$2", 2)}, // older, arrives late
			},
			want: []flushed{{"b", "!r", []storage.Receipt{read("!r", "@a:x", "$3", 3)}}},
		},
		"several users of a room share the EDU": {
			adds: []add{
				{0, "b", read("!r", "@z:x", "$1", 1)},
				{50 * time.Millisecond, "b", read("!r", "@a:x", "$2", 2)},
			},
			want: []flushed{{"b", "!r", []storage.Receipt{read("!r", "@z:x", "$1", 1), read("!r", "@a:x", "$2", 2)}}},
		},
		"rooms and destinations are batched apart": {
			adds: []add{
				{0, "b", read("!r", "@a:x", "$1", 1)},
				{1 * time.Millisecond, "c", read("!r", "@a:x", "$1", 1)},
				{2 * time.Millisecond, "b", read("!s", "@a:x", "$9", 2)},
			},
			want: []flushed{
				{"b", "!r", []storage.Receipt{read("!r", "@a:x", "$1", 1)}},
				{"c", "!r", []storage.Receipt{read("!r", "@a:x", "$1", 1)}},
				{"b", "!s", []storage.Receipt{read("!s", "@a:x", "$9", 2)}},
			},
		},
		"after the window a new batch opens": {
			adds: []add{
				{0, "b", read("!r", "@a:x", "$1", 1)},
				{150 * time.Millisecond, "b", read("!r", "@a:x", "$2", 2)},
			},
			want: []flushed{
				{"b", "!r", []storage.Receipt{read("!r", "@a:x", "$1", 1)}},
				{"b", "!r", []storage.Receipt{read("!r", "@a:x", "$2", 2)}},
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			clock := newFakeClock()
			var log flushLog
			co := NewCoalescer(100*time.Millisecond, clock, log.flush)
			var elapsed time.Duration
			for _, a := range c.adds {
				clock.Advance(a.at - elapsed)
				elapsed = a.at
				co.Add(a.dest, a.r)
			}
			if n := len(log.get()); n != 0 && c.adds[len(c.adds)-1].at < 100*time.Millisecond {
				t.Fatalf("%d flushes before the window closed", n)
			}
			clock.Advance(time.Second)
			if got := log.get(); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("flushes:\n got  %+v\n want %+v", got, c.want)
			}
			if co.Pending() != 0 {
				t.Fatalf("%d batches still pending", co.Pending())
			}
			co.Close()
		})
	}
}

func TestCoalescerWindowIsExact(t *testing.T) {
	clock := newFakeClock()
	var log flushLog
	co := NewCoalescer(100*time.Millisecond, clock, log.flush)
	defer co.Close()
	co.Add("b", read("!r", "@a:x", "$1", 1))
	clock.Advance(99 * time.Millisecond)
	if len(log.get()) != 0 {
		t.Fatal("flushed before the window closed")
	}
	clock.Advance(time.Millisecond)
	if len(log.get()) != 1 {
		t.Fatal("not flushed when the window closed")
	}
}

func TestCoalescerCloseFlushes(t *testing.T) {
	clock := newFakeClock()
	var log flushLog
	co := NewCoalescer(time.Hour, clock, log.flush)
	co.Add("c", read("!r", "@a:x", "$1", 1))
	co.Add("b", read("!r", "@a:x", "$1", 1))
	co.Close()
	want := []flushed{
		{"b", "!r", []storage.Receipt{read("!r", "@a:x", "$1", 1)}},
		{"c", "!r", []storage.Receipt{read("!r", "@a:x", "$1", 1)}},
	}
	if got := log.get(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Close flushed %+v, want %+v", got, want)
	}
	co.Add("b", read("!r", "@a:x", "$2", 2))
	clock.Advance(2 * time.Hour)
	co.Close() // twice is fine
	if got := log.get(); len(got) != 2 {
		t.Fatalf("flushes after Close: %+v", got[2:])
	}
}

// TestCoalescerConcurrent runs many writers against the system clock:
// every receipt is flushed exactly once per batch, the newest per user
// last, and -race finds nothing.
func TestCoalescerConcurrent(t *testing.T) {
	var log flushLog
	co := NewCoalescer(5*time.Millisecond, nil, log.flush)
	var wg sync.WaitGroup
	for u := range 8 {
		wg.Go(func() {
			for i := range 50 {
				co.Add(fmt.Sprintf("dest%d", i%3), read("!r", fmt.Sprintf("@u%d:x", u), fmt.Sprintf("$%d", i), int64(i)))
				if i%10 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	co.Close()
	last := map[string]int64{} // dest|user -> newest flushed TS
	for _, f := range log.get() {
		for _, r := range f.rs {
			k := f.dest + "|" + r.UserID
			last[k] = max(last[k], r.TS)
		}
	}
	for u := range 8 {
		for d := range 3 {
			k := fmt.Sprintf("dest%d|@u%d:x", d, u)
			want := int64(49 - (49-d)%3) // the last i with i%3 == d
			if last[k] != want {
				t.Errorf("%s: newest flushed TS %d, want %d", k, last[k], want)
			}
		}
	}
}
