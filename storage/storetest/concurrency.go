package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

// testConcurrency has goroutines write events and EDUs and read at the
// same time. Stores that let writers collide ("database is locked") fail.
func testConcurrency(t *testing.T, open opener) {
	const (
		workers = 8
		rounds  = 30
		rid     = "!busy:t"
	)
	s := open(t)
	createRoom(t, s, room(rid, 1))
	c := ctx(t)

	errs := make(chan error, workers*2)
	var wg sync.WaitGroup
	positions := make([][]int64, workers)
	for w := range workers {
		wg.Go(func() {
			dest := fmt.Sprintf("w%d.example", w)
			prev := []string(nil)
			for i := range rounds {
				id := fmt.Sprintf("$w%d-%d", w, i)
				pos, err := s.WriteRoom(c, storage.RoomWrite{Events: []storage.EventUpdate{
					upd(msg(rid, id, prev...), dest),
				}})
				if err != nil {
					errs <- fmt.Errorf("worker %d: WriteRoom %s: %w", w, id, err)
					return
				}
				positions[w] = append(positions[w], pos...)
				prev = []string{id}
				if err := s.EnqueueEDU(c, dest, fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
					errs <- fmt.Errorf("worker %d: EnqueueEDU: %w", w, err)
					return
				}
				if _, err := s.Event(c, id); err != nil {
					errs <- fmt.Errorf("worker %d: Event %s: %w", w, id, err)
					return
				}
				if _, err := s.ForwardExtremities(c, rid); err != nil {
					errs <- fmt.Errorf("worker %d: ForwardExtremities: %w", w, err)
					return
				}
				if i%5 == 0 {
					if _, err := s.RoomEvents(c, rid, 0, 20); err != nil {
						errs <- fmt.Errorf("worker %d: RoomEvents: %w", w, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	seen := map[int64]bool{}
	for w, ps := range positions {
		mustIncrease(t, fmt.Sprintf("worker %d", w), ps...)
		for _, p := range ps {
			if seen[p] {
				t.Fatalf("StreamPos %d given to two events", p)
			}
			seen[p] = true
		}
	}
	evs, err := s.RoomEvents(c, rid, 0, workers*rounds+10)
	mustOK(t, "RoomEvents", err)
	if len(evs) != workers*rounds {
		t.Fatalf("RoomEvents: got %d events, want %d", len(evs), workers*rounds)
	}
	want := make([]string, 0, workers)
	for w := range workers {
		want = append(want, fmt.Sprintf("$w%d-%d", w, rounds-1))
	}
	eqStrings(t, "ForwardExtremities", extremities(t, s, rid), sorted(want))

	// Every destination drains, concurrently, to exactly what was queued.
	errs = make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			dest := fmt.Sprintf("w%d.example", w)
			pdus, edus := 0, 0
			for range 2 * rounds { // bounded: a store that never drains fails, not hangs
				txn, err := s.NextTransaction(c, dest, 7, 5)
				if err != nil {
					if pdus != rounds || edus != rounds {
						errs <- fmt.Errorf("%s: drained %d PDUs and %d EDUs, want %d each (last error %v)", dest, pdus, edus, rounds, err)
					}
					return
				}
				if len(txn.PDUs)+len(txn.EDUs) == 0 {
					errs <- fmt.Errorf("%s: NextTransaction returned an empty transaction %q", dest, txn.TxnID)
					return
				}
				pdus, edus = pdus+len(txn.PDUs), edus+len(txn.EDUs)
				if err := s.CompleteTransaction(c, dest, txn.TxnID); err != nil {
					errs <- fmt.Errorf("%s: CompleteTransaction: %w", dest, err)
					return
				}
			}
			errs <- fmt.Errorf("%s: still not drained after %d transactions", dest, 2*rounds)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
