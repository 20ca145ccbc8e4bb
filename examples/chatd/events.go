package main

import (
	"fmt"
	"net/http"
	"sync"
	"time"
)

// notifier tells live-update streams that something changed. It carries
// no data: a page that hears of a change fetches what it shows again, so
// nothing about one user's rooms is broadcast to the others.
type notifier struct {
	mu      sync.Mutex
	seq     uint64
	changed chan struct{} // closed and replaced on every change
	done    chan struct{} // closed by close
	closed  bool
}

func newNotifier() *notifier {
	return &notifier{changed: make(chan struct{}), done: make(chan struct{})}
}

// bump records a change and wakes every stream.
func (n *notifier) bump() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.seq++
	close(n.changed)
	n.changed = make(chan struct{})
}

// current returns the change count and a channel closed on the next change.
func (n *notifier) current() (uint64, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.seq, n.changed
}

func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		close(n.done)
	}
}

// Stream timing: changes are sent at most every minGap (a burst becomes
// one refresh) and a comment keeps idle connections open.
const (
	minGap    = 150 * time.Millisecond
	keepAlive = 20 * time.Second
)

// serveEvents is GET /api/events: a text/event-stream of "change" events,
// each with the change count as its data.
func (a *App) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, apiErr(http.StatusInternalServerError, "M_UNKNOWN", "streaming not supported"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	ping := time.NewTicker(keepAlive)
	defer ping.Stop()
	for {
		seq, changed := a.events.current()
		if _, err := fmt.Fprintf(w, "event: change\ndata: %d\n\n", seq); err != nil {
			return
		}
		flusher.Flush()
	wait:
		for {
			select {
			case <-changed:
				break wait
			case <-ping.C:
				if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
					return
				}
				flusher.Flush()
			case <-r.Context().Done():
				return
			case <-a.events.done:
				return
			}
		}
		select {
		case <-time.After(minGap):
		case <-r.Context().Done():
			return
		case <-a.events.done:
			return
		}
	}
}
