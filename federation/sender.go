package federation

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Transaction limits from the spec: at most 50 PDUs and 100 EDUs.
const (
	MaxPDUsPerTxn = 50
	MaxEDUsPerTxn = 100
)

// Backoff bounds for a destination that does not answer.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = time.Hour
)

// QueueStore is the part of storage.Store the send queue uses.
type QueueStore interface {
	PendingDestinations(ctx context.Context) ([]string, error)
	NextTransaction(ctx context.Context, destination string, maxPDUs, maxEDUs int) (storage.Transaction, error)
	CompleteTransaction(ctx context.Context, destination, txnID string) error
}

// TxnSender sends one transaction; *Client implements it.
type TxnSender interface {
	SendTransaction(ctx context.Context, dest spec.ServerName, txnID string, pdus, edus [][]byte) (fclient.RespSend, error)
}

// Sender drains the persistent send queue: one worker per destination,
// one transaction in flight per destination, the same transaction ID
// resent until the destination acknowledges it, exponential backoff with
// jitter (capped at one hour) while it does not.
type Sender struct {
	store  QueueStore
	client TxnSender
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	workers map[string]*destWorker
	closed  bool
}

type destWorker struct {
	dest  string
	work  chan struct{} // new items queued
	retry chan struct{} // the destination talked to us: stop backing off
}

// NewSender returns a Sender; call Start to resume what is queued.
func NewSender(store QueueStore, client TxnSender, log *slog.Logger) *Sender {
	ctx, cancel := context.WithCancel(context.Background())
	return &Sender{store: store, client: client, log: log, ctx: ctx, cancel: cancel, workers: map[string]*destWorker{}}
}

// Start wakes a worker for every destination with queued items, so what
// was not acknowledged before a restart is sent again.
func (s *Sender) Start(ctx context.Context) error {
	dests, err := s.store.PendingDestinations(ctx)
	if err != nil {
		return err
	}
	s.Wake(dests...)
	return nil
}

// Wake tells the workers of these destinations that items were queued.
func (s *Sender) Wake(dests ...string) {
	for _, d := range dests {
		if w := s.worker(d); w != nil {
			signal(w.work)
		}
	}
}

// Retry ends the backoff of a destination, because it just talked to us.
func (s *Sender) Retry(dest string) {
	s.mu.Lock()
	w := s.workers[dest]
	s.mu.Unlock()
	if w != nil {
		signal(w.retry)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (s *Sender) worker(dest string) *destWorker {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	w, ok := s.workers[dest]
	if !ok {
		w = &destWorker{dest: dest, work: make(chan struct{}, 1), retry: make(chan struct{}, 1)}
		s.workers[dest] = w
		s.wg.Add(1)
		go s.run(w)
	}
	return w
}

// Close stops the workers, giving an in-flight transaction a moment to be
// acknowledged. Nothing is lost: unacknowledged items stay queued.
func (s *Sender) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	s.cancel()
	<-done
}

func (s *Sender) run(w *destWorker) {
	defer s.wg.Done()
	failures := 0
	for {
		sent, err := s.sendOne(w.dest)
		switch {
		case s.ctx.Err() != nil:
			return
		case err != nil:
			failures++
			wait := backoff(failures)
			s.log.Debug("federation send failed", "destination", w.dest, "err", err, "retry_in", wait)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-w.retry:
				t.Stop()
			case <-s.ctx.Done():
				t.Stop()
				return
			}
		case sent:
			failures = 0
		default:
			select {
			case <-w.work:
			case <-w.retry:
			case <-s.ctx.Done():
				return
			}
		}
	}
}

// sendOne sends the destination's next transaction. It reports whether
// anything was sent.
func (s *Sender) sendOne(dest string) (bool, error) {
	txn, err := s.store.NextTransaction(s.ctx, dest, MaxPDUsPerTxn, MaxEDUsPerTxn)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	res, err := s.client.SendTransaction(ctx, spec.ServerName(dest), txn.TxnID, txn.PDUs, txn.EDUs)
	if err != nil {
		return false, err
	}
	for id, r := range res.PDUs {
		if r.Error != "" {
			s.log.Info("destination refused a PDU", "destination", dest, "event_id", id, "error", r.Error)
		}
	}
	if err := s.store.CompleteTransaction(s.ctx, dest, txn.TxnID); err != nil {
		return false, err
	}
	return true, nil
}

// backoff is min(maxBackoff, minBackoff * 2^(n-1)) with up to 50% jitter.
func backoff(n int) time.Duration {
	d := minBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
