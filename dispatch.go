package homeserver

import (
	"context"
	"sync"
)

// dispatcher runs host hooks one at a time, in order, on its own
// goroutine, with an unbounded queue so callers never block.
type dispatcher struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []func(context.Context)
	closed bool
	done   chan struct{}
}

func newDispatcher() *dispatcher {
	d := &dispatcher{done: make(chan struct{})}
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
		f(ctx)
	}
}

// close runs what is queued, then stops.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.cond.Signal()
	d.mu.Unlock()
	<-d.done
}
