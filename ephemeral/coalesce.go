package ephemeral

import (
	"sort"
	"sync"
	"time"

	"github.com/embedmatrix/homeserver/storage"
)

// DefaultWindow is how long a coalescer gathers updates for one batch
// (a room and destination for receipts, a destination for presence)
// before they leave as one EDU.
const DefaultWindow = 100 * time.Millisecond

// Coalescer batches outbound receipts: the first receipt for a (room,
// destination) opens a window; every receipt for that pair until the window
// closes joins it, the newest per (user, type) winning; then flush gets the
// batch, to queue as one m.receipt EDU.
//
// Contract: flush runs on a timer goroutine without the Coalescer's lock,
// so it may do I/O; two flushes for the same pair may overlap, which is
// harmless because receivers keep the newest receipt per user. After Close
// returns, every batch has been flushed and flush is not called again.
type Coalescer struct {
	w *window[batchKey, [2]string, storage.Receipt]
}

type batchKey struct{ destination, roomID string }

// NewCoalescer returns a Coalescer that hands each batch to flush after
// window (DefaultWindow when 0). A nil clock means SystemClock.
func NewCoalescer(window time.Duration, clock Clock, flush func(destination, roomID string, rs []storage.Receipt)) *Coalescer {
	return &Coalescer{w: newWindow(window, clock, windowRules[batchKey, [2]string, storage.Receipt]{
		flush: func(k batchKey, rs []storage.Receipt) { flush(k.destination, k.roomID, rs) },
		newer: func(old, r storage.Receipt) bool { return r.TS >= old.TS },
		less: func(a, b storage.Receipt) bool {
			if a.TS != b.TS {
				return a.TS < b.TS
			}
			if a.UserID != b.UserID {
				return a.UserID < b.UserID
			}
			return a.Type < b.Type
		},
		keyLess: func(a, b batchKey) bool {
			if a.roomID != b.roomID {
				return a.roomID < b.roomID
			}
			return a.destination < b.destination
		},
	})}
}

// Add queues a receipt for a destination. After Close it does nothing.
func (c *Coalescer) Add(destination string, r storage.Receipt) {
	c.w.add(batchKey{destination, r.RoomID}, [2]string{r.UserID, r.Type}, r)
}

// Pending reports how many (room, destination) batches wait for their
// window to close.
func (c *Coalescer) Pending() int { return c.w.pending() }

// Close flushes every open batch now, waits for flushes under way, and
// stops the Coalescer.
func (c *Coalescer) Close() { c.w.close() }

// window is the machinery of both coalescers: batches of items under a
// key K, one item per identity I (the newer one winning), each batch
// flushed once its window has passed.
type window[K, I comparable, V any] struct {
	window time.Duration
	clock  Clock
	rules  windowRules[K, I, V]

	mu       sync.Mutex
	batches  map[K]*batch[I, V]
	closed   bool
	inFlight sync.WaitGroup
}

// windowRules are what a window needs to know about its items.
type windowRules[K, I comparable, V any] struct {
	flush   func(K, []V)
	newer   func(old, v V) bool // whether v replaces old in a batch
	less    func(a, b V) bool   // the order of a flushed batch
	keyLess func(a, b K) bool   // the order of the batches Close flushes
}

type batch[I comparable, V any] struct {
	timer Timer
	items map[I]V
}

func newWindow[K, I comparable, V any](d time.Duration, clock Clock, rules windowRules[K, I, V]) *window[K, I, V] {
	if d <= 0 {
		d = DefaultWindow
	}
	if clock == nil {
		clock = SystemClock
	}
	return &window[K, I, V]{window: d, clock: clock, rules: rules, batches: map[K]*batch[I, V]{}}
}

func (w *window[K, I, V]) add(k K, id I, v V) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	b, ok := w.batches[k]
	if !ok {
		b = &batch[I, V]{items: map[I]V{}}
		w.batches[k] = b
		b.timer = w.clock.AfterFunc(w.window, func() { w.fire(k, b) })
	}
	if old, ok := b.items[id]; !ok || w.rules.newer(old, v) {
		b.items[id] = v
	}
}

func (w *window[K, I, V]) fire(k K, b *batch[I, V]) {
	w.mu.Lock()
	if w.closed || w.batches[k] != b {
		w.mu.Unlock()
		return
	}
	delete(w.batches, k)
	w.inFlight.Add(1)
	w.mu.Unlock()
	defer w.inFlight.Done()
	w.rules.flush(k, w.sorted(b))
}

func (w *window[K, I, V]) sorted(b *batch[I, V]) []V {
	vs := make([]V, 0, len(b.items))
	for _, v := range b.items {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return w.rules.less(vs[i], vs[j]) })
	return vs
}

func (w *window[K, I, V]) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.batches)
}

func (w *window[K, I, V]) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.inFlight.Wait()
		return
	}
	w.closed = true
	open := w.batches
	w.batches = nil
	for _, b := range open {
		b.timer.Stop()
	}
	w.mu.Unlock()
	keys := make([]K, 0, len(open))
	for k := range open {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return w.rules.keyLess(keys[i], keys[j]) })
	for _, k := range keys {
		w.rules.flush(k, w.sorted(open[k]))
	}
	w.inFlight.Wait()
}
