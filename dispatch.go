package homeserver

import (
	"context"
	"log/slog"
	"sync"
)

// dispatcher runs host hooks one at a time, in order, on its own
// goroutine, with an unbounded queue so callers never block.
type dispatcher struct {
	log    *slog.Logger
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []func(context.Context)
	closed bool
	done   chan struct{}
}

func newDispatcher(log *slog.Logger) *dispatcher {
	d := &dispatcher{log: log, done: make(chan struct{})}
	d.cond = sync.NewCond(&d.mu)
	go d.run()
	return d
}

func (d *dispatcher) push(f func(context.Context)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.queue = append(d.queue, f)
	d.cond.Signal()
}

func (d *dispatcher) run() {
	defer close(d.done)
	ctx := context.Background()
	for {
		d.mu.Lock()
		for len(d.queue) == 0 && !d.closed {
			d.cond.Wait()
		}
		if len(d.queue) == 0 && d.closed {
			d.mu.Unlock()
			return
		}
		f := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.mu.Unlock()
		d.call(ctx, f)
	}
}

// call runs one hook; a hook that panics is logged and skipped, it does
// not take the process down with it.
func (d *dispatcher) call(ctx context.Context, f func(context.Context)) {
	defer func() {
		if p := recover(); p != nil && d.log != nil {
			d.log.Error("a host hook panicked", "panic", p)
		}
	}()
	f(ctx)
}

// close runs what is queued, then stops.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.cond.Signal()
	d.mu.Unlock()
	<-d.done
}
