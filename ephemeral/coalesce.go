package ephemeral

import (
	"sort"
	"sync"
	"time"

	"github.com/embedmatrix/homeserver/storage"
)

// DefaultWindow is how long the Coalescer gathers receipts for one room
// and destination before they leave as one EDU.
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
	window time.Duration
	clock  Clock
	flush  func(destination, roomID string, rs []storage.Receipt)

	mu       sync.Mutex
	batches  map[batchKey]*batch
	closed   bool
	inFlight sync.WaitGroup
}

type batchKey struct{ destination, roomID string }

type batch struct {
	timer    Timer
	receipts map[[2]string]storage.Receipt // by (user, type)
}

// NewCoalescer returns a Coalescer that hands each batch to flush after
// window (DefaultWindow when 0). A nil clock means SystemClock.
func NewCoalescer(window time.Duration, clock Clock, flush func(destination, roomID string, rs []storage.Receipt)) *Coalescer {
	if window <= 0 {
		window = DefaultWindow
	}
	if clock == nil {
		clock = SystemClock
	}
	return &Coalescer{window: window, clock: clock, flush: flush, batches: map[batchKey]*batch{}}
}

// Add queues a receipt for a destination. After Close it does nothing.
func (c *Coalescer) Add(destination string, r storage.Receipt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	k := batchKey{destination, r.RoomID}
	b, ok := c.batches[k]
	if !ok {
		b = &batch{receipts: map[[2]string]storage.Receipt{}}
		c.batches[k] = b
		b.timer = c.clock.AfterFunc(c.window, func() { c.fire(k, b) })
	}
	uk := [2]string{r.UserID, r.Type}
	if old, ok := b.receipts[uk]; !ok || r.TS >= old.TS {
		b.receipts[uk] = r
	}
}

func (c *Coalescer) fire(k batchKey, b *batch) {
	c.mu.Lock()
	if c.closed || c.batches[k] != b {
		c.mu.Unlock()
		return
	}
	delete(c.batches, k)
	c.inFlight.Add(1)
	c.mu.Unlock()
	defer c.inFlight.Done()
	c.flush(k.destination, k.roomID, b.sorted())
}

// sorted returns the batch's receipts by TS, then user, then type.
func (b *batch) sorted() []storage.Receipt {
	rs := make([]storage.Receipt, 0, len(b.receipts))
	for _, r := range b.receipts {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].TS != rs[j].TS {
			return rs[i].TS < rs[j].TS
		}
		if rs[i].UserID != rs[j].UserID {
			return rs[i].UserID < rs[j].UserID
		}
		return rs[i].Type < rs[j].Type
	})
	return rs
}

// Pending reports how many (room, destination) batches wait for their
// window to close.
func (c *Coalescer) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.batches)
}

// Close flushes every open batch now, waits for flushes under way, and
// stops the Coalescer.
func (c *Coalescer) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.inFlight.Wait()
		return
	}
	c.closed = true
	open := c.batches
	c.batches = nil
	for _, b := range open {
		b.timer.Stop()
	}
	c.mu.Unlock()
	keys := make([]batchKey, 0, len(open))
	for k := range open {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].roomID != keys[j].roomID {
			return keys[i].roomID < keys[j].roomID
		}
		return keys[i].destination < keys[j].destination
	})
	for _, k := range keys {
		c.flush(k.destination, k.roomID, open[k].sorted())
	}
	c.inFlight.Wait()
}
