package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

// These tests open several Stores on one database, as several processes
// would (each Store has its own connection pool and shares nothing with
// the others but the server), and have them write at once.

// sharedStores opens n Stores on one new database.
func sharedStores(t *testing.T, n int) []*Store {
	t.Helper()
	dsn := freshDB(t)
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = openDSN(t, dsn)
	}
	return stores
}

// event returns an accepted event whose JSON names it, so a queued PDU can
// be traced back to its event.
func event(roomID, id string, prev ...string) storage.Event {
	return storage.Event{
		EventID: id, RoomID: roomID, Type: "m.room.message", Sender: "@a:t",
		PrevEvents: prev, JSON: fmt.Appendf(nil, `{"event_id":%q}`, id), Status: storage.StatusAccepted,
	}
}

// run starts fn(i) for i in [0, n) and waits for all; errors fail t.
func run(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := fn(i); err != nil {
				errs <- err
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
}

// TestSharedRoomExtremities writes one chain of events into one room from
// several stores at once, in shuffled order, so parents and children
// arrive concurrently and often child first. Whatever the interleaving,
// the room must end with one forward extremity, the chain's last event:
// a writer that missed a child committed by another store would leave its
// event as an extremity too.
func TestSharedRoomExtremities(t *testing.T) {
	t.Parallel()
	stores := sharedStores(t, 4)
	ctx := t.Context()
	const (
		rid     = "!chain:t"
		n       = 200
		workers = 8
	)
	if _, err := stores[0].WriteRoom(ctx, storage.RoomWrite{Room: &storage.Room{RoomID: rid, Version: "10"}}); err != nil {
		t.Fatal(err)
	}
	order := rand.Perm(n)
	run(t, workers, func(w int) error {
		s := stores[w%len(stores)]
		for k := w; k < n; k += workers {
			i := order[k]
			var prev []string
			if i > 0 {
				prev = []string{fmt.Sprintf("$%03d", i-1)}
			}
			u := storage.EventUpdate{Event: event(rid, fmt.Sprintf("$%03d", i), prev...), Extremity: true}
			if _, err := s.WriteRoom(ctx, storage.RoomWrite{Events: []storage.EventUpdate{u}}); err != nil {
				return fmt.Errorf("worker %d: %w", w, err)
			}
		}
		return nil
	})
	for i, s := range stores {
		ext, err := s.ForwardExtremities(ctx, rid)
		if err != nil || !slices.Equal(ext, []string{fmt.Sprintf("$%03d", n-1)}) {
			t.Fatalf("store %d: ForwardExtremities = %q, %v; want only the last event", i, ext, err)
		}
	}
}

// TestSharedRoomWriters has workers on several stores append to their own
// chains in one room, set state and queue PDUs for one destination, while
// a reader pages through the room with RoomEvents. It checks that stream
// positions are unique, that the reader, paging on from the last position
// it saw, misses nothing (stream order is commit order within a room),
// that each (type, state key) holds the event written last, that the
// extremities are the chains' heads, and that the destination's PDUs are
// queued in stream order.
func TestSharedRoomWriters(t *testing.T) {
	t.Parallel()
	stores := sharedStores(t, 4)
	ctx := t.Context()
	const (
		rid     = "!busy:t"
		dest    = "d.example"
		workers = 8
		rounds  = 25
	)
	if _, err := stores[0].WriteRoom(ctx, storage.RoomWrite{Room: &storage.Room{RoomID: rid, Version: "10"}}); err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		posOf    = map[string]int64{}
		lastKey  = map[string]string{} // state key -> event with the highest StreamPos
		lastPos  = map[string]int64{}
		done     = make(chan struct{})
		seen     []storage.Event
		readErr  error
		readerWG sync.WaitGroup
	)
	readerWG.Go(func() {
		s := stores[len(stores)-1]
		var after int64
		page := func() (int, error) {
			evs, err := s.RoomEvents(ctx, rid, after, 7)
			if err != nil {
				return 0, err
			}
			for _, e := range evs {
				after = e.StreamPos
			}
			seen = append(seen, evs...)
			return len(evs), nil
		}
		for {
			select {
			case <-done:
				for { // drain what is left
					n, err := page()
					if err != nil || n == 0 {
						readErr = err
						return
					}
				}
			default:
			}
			if _, err := page(); err != nil {
				readErr = err
				return
			}
		}
	})

	run(t, workers, func(w int) error {
		s := stores[w%len(stores)]
		var prev []string
		for i := range rounds {
			id := fmt.Sprintf("$w%d-%02d", w, i)
			e := event(rid, id, prev...)
			key := fmt.Sprintf("k%d", i%3) // workers share state keys
			e.Type, e.StateKey = "m.test", &key
			pos, err := s.WriteRoom(ctx, storage.RoomWrite{Events: []storage.EventUpdate{{
				Event: e, SetState: true, Extremity: true, Destinations: []string{dest},
			}}})
			if err != nil {
				return fmt.Errorf("worker %d: %w", w, err)
			}
			mu.Lock()
			posOf[id] = pos[0]
			if pos[0] > lastPos[key] {
				lastPos[key], lastKey[key] = pos[0], id
			}
			mu.Unlock()
			prev = []string{id}
		}
		return nil
	})
	close(done)
	readerWG.Wait()
	if readErr != nil {
		t.Fatalf("reader: %v", readErr)
	}

	total := workers * rounds
	positions := make([]int64, 0, total)
	for _, p := range posOf {
		positions = append(positions, p)
	}
	slices.Sort(positions)
	if len(slices.Compact(positions)) != total {
		t.Fatalf("%d distinct stream positions for %d events", len(slices.Compact(positions)), total)
	}

	if len(seen) != total {
		t.Fatalf("the paging reader saw %d events, want %d: a late commit fell behind its cursor", len(seen), total)
	}
	for i, e := range seen {
		if i > 0 && e.StreamPos <= seen[i-1].StreamPos {
			t.Fatalf("the paging reader saw positions out of order at %d", i)
		}
		if posOf[e.EventID] != e.StreamPos {
			t.Fatalf("%s: reader saw StreamPos %d, the write returned %d", e.EventID, e.StreamPos, posOf[e.EventID])
		}
	}

	for key, want := range lastKey {
		got, err := stores[1].StateEvent(ctx, rid, "m.test", key)
		if err != nil || got.EventID != want {
			t.Fatalf("state %s: got %s, %v; want %s, the last written", key, got.EventID, err, want)
		}
	}

	var heads []string
	for w := range workers {
		heads = append(heads, fmt.Sprintf("$w%d-%02d", w, rounds-1))
	}
	slices.Sort(heads)
	ext, err := stores[2].ForwardExtremities(ctx, rid)
	if err != nil || !slices.Equal(ext, heads) {
		t.Fatalf("ForwardExtremities = %q, %v; want %q", ext, err, heads)
	}

	var queued []int64
	for {
		txn, err := stores[0].NextTransaction(ctx, dest, 50, 0)
		if err != nil {
			break
		}
		for _, pdu := range txn.PDUs {
			var v struct {
				EventID string `json:"event_id"`
			}
			if err := json.Unmarshal(pdu, &v); err != nil {
				t.Fatal(err)
			}
			queued = append(queued, posOf[v.EventID])
		}
		if err := stores[0].CompleteTransaction(ctx, dest, txn.TxnID); err != nil {
			t.Fatal(err)
		}
	}
	if len(queued) != total || !slices.IsSorted(queued) {
		t.Fatalf("%d PDUs queued for %s (want %d), in stream order: %v", len(queued), dest, total, slices.IsSorted(queued))
	}
}

// TestSharedQueue has stores enqueue EDUs for one destination while
// senders on other stores drain it at the same time, as several
// federation senders sharing a database would. A transaction ID must
// always stand for the same content, no item may be in two transactions,
// and every item must be sent.
func TestSharedQueue(t *testing.T) {
	t.Parallel()
	stores := sharedStores(t, 4)
	ctx := t.Context()
	const (
		dest      = "q.example"
		producers = 4
		perProd   = 60
		senders   = 4
	)
	var (
		mu      sync.Mutex
		byTxn   = map[string][]string{} // TxnID -> its EDUs
		opened  []string                // TxnIDs in the order first seen
		done    = make(chan struct{})
		sendErr = make(chan error, senders)
		sendWG  sync.WaitGroup
	)
	record := func(txn storage.Transaction) error {
		edus := make([]string, len(txn.EDUs))
		for i, e := range txn.EDUs {
			edus[i] = string(e)
		}
		mu.Lock()
		defer mu.Unlock()
		if before, ok := byTxn[txn.TxnID]; ok && !slices.Equal(before, edus) {
			return fmt.Errorf("transaction %s changed content: %q, then %q", txn.TxnID, before, edus)
		}
		if _, ok := byTxn[txn.TxnID]; !ok {
			opened = append(opened, txn.TxnID)
		}
		byTxn[txn.TxnID] = edus
		return nil
	}
	for i := range senders {
		s := stores[(i+1)%len(stores)]
		sendWG.Go(func() {
			finishing := false
			for range 5000 { // bounded: a queue that never drains fails, not hangs
				txn, err := s.NextTransaction(ctx, dest, 10, 7)
				if err != nil {
					if finishing {
						return
					}
					select {
					case <-done:
						finishing = true // one more look after the producers stopped
					default:
					}
					continue
				}
				if err := record(txn); err != nil {
					sendErr <- err
					return
				}
				if err := s.CompleteTransaction(ctx, dest, txn.TxnID); err != nil {
					sendErr <- err
					return
				}
			}
			sendErr <- fmt.Errorf("sender %d did not finish", i)
		})
	}
	run(t, producers, func(p int) error {
		s := stores[p%len(stores)]
		for i := range perProd {
			if err := s.EnqueueEDU(ctx, dest, fmt.Appendf(nil, `{"p":%d,"i":%d}`, p, i)); err != nil {
				return err
			}
		}
		return nil
	})
	close(done)
	sendWG.Wait()
	close(sendErr)
	for err := range sendErr {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	sent := map[string]string{} // EDU -> the transaction that carried it
	for id, edus := range byTxn {
		for _, e := range edus {
			if other, ok := sent[e]; ok {
				t.Fatalf("EDU %s sent in two transactions, %s and %s", e, other, id)
			}
			sent[e] = id
		}
	}
	if len(sent) != producers*perProd {
		t.Fatalf("%d EDUs sent, want %d", len(sent), producers*perProd)
	}
	// A destination's transactions open one after another (the next only
	// once the last is completed), so the order they were first seen in is
	// the order they were sent in. Each producer queued its EDUs one after
	// another, so they must have gone out in that order.
	next := make([]int, producers)
	for _, id := range opened {
		for _, e := range byTxn[id] {
			var v struct{ P, I int }
			if err := json.Unmarshal([]byte(e), &v); err != nil {
				t.Fatal(err)
			}
			if v.I != next[v.P] {
				t.Fatalf("producer %d: EDU %d sent when %d was due", v.P, v.I, next[v.P])
			}
			next[v.P]++
		}
	}
	if ds, err := stores[0].PendingDestinations(ctx); err != nil || len(ds) != 0 {
		t.Fatalf("PendingDestinations after draining: %q, %v", ds, err)
	}
}

// TestSharedSameEventTwoRooms has two stores write the same event ID at
// once, claimed by two different rooms (so under two different room
// locks): one write stores it, the other finds it stored and skips it, as
// when the writes come one after the other. Neither fails.
func TestSharedSameEventTwoRooms(t *testing.T) {
	t.Parallel()
	stores := sharedStores(t, 2)
	ctx := t.Context()
	for _, r := range []string{"!a:t", "!b:t"} {
		if _, err := stores[0].WriteRoom(ctx, storage.RoomWrite{Room: &storage.Room{RoomID: r, Version: "10"}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		id := fmt.Sprintf("$same%d", i)
		pos := make([]int64, 2)
		run(t, 2, func(k int) error {
			room := []string{"!a:t", "!b:t"}[k]
			p, err := stores[k].WriteRoom(ctx, storage.RoomWrite{Events: []storage.EventUpdate{
				{Event: event(room, id), Extremity: true},
			}})
			if err != nil {
				return err
			}
			pos[k] = p[0]
			return nil
		})
		if pos[0] != pos[1] {
			t.Fatalf("%s: the two writes report StreamPos %v, want the one stored", id, pos)
		}
	}
}

// TestSharedInvitesAndReceipts has stores upsert the same invites and
// receipts at once: the newest receipt wins, and each invite ends as one
// of the writes left it, whole.
func TestSharedInvitesAndReceipts(t *testing.T) {
	t.Parallel()
	stores := sharedStores(t, 4)
	ctx := t.Context()
	const n = 40
	run(t, n, func(i int) error {
		s := stores[i%len(stores)]
		if err := s.PutReceipt(ctx, storage.Receipt{RoomID: "!r:t", UserID: "@u:t", Type: "m.read",
			EventID: fmt.Sprintf("$e%d", i), TS: int64(1000 + i)}); err != nil {
			return err
		}
		return s.PutInvite(ctx, storage.Invite{RoomID: "!r:t", UserID: "@u:t", Inviter: fmt.Sprintf("@i%d:t", i),
			EventID: fmt.Sprintf("$inv%d", i), EventJSON: fmt.Appendf(nil, `{"i":%d}`, i),
			State: storage.InvitePending, CreatedTS: int64(i)})
	})
	rs, err := stores[0].Receipts(ctx, "!r:t", "")
	if err != nil || len(rs) != 1 || rs[0].EventID != fmt.Sprintf("$e%d", n-1) {
		t.Fatalf("Receipts = %+v, %v; want the newest, $e%d", rs, err, n-1)
	}
	inv, err := stores[1].Invite(ctx, "!r:t", "@u:t")
	if err != nil {
		t.Fatal(err)
	}
	var i int
	if _, err := fmt.Sscanf(inv.EventID, "$inv%d", &i); err != nil ||
		inv.Inviter != fmt.Sprintf("@i%d:t", i) || string(inv.EventJSON) != fmt.Sprintf(`{"i":%d}`, i) || inv.CreatedTS != int64(i) {
		t.Fatalf("the invite mixes two writes: %+v", inv)
	}
}

// TestSharedQueueRedactions redacts queued events from two stores while
// three others hand out and acknowledge transactions to three
// destinations. Redactions take destination locks after room locks and
// NextTransaction takes them alone, so nobody waits in a cycle; whatever
// the interleaving, every destination gets each event exactly once, whole
// (handed out before its redaction) or redacted, and every transaction
// keeps its content until acknowledged.
func TestSharedQueueRedactions(t *testing.T) {
	t.Parallel()
	stores := sharedStores(t, 5)
	ctx := t.Context()
	const (
		rid    = "!r:t"
		events = 60
	)
	dests := []string{"d0.example", "d1.example", "d2.example"}
	r := storage.Room{RoomID: rid, Version: "10"}
	w := storage.RoomWrite{Room: &r}
	ids := make([]string, events)
	for i := range ids {
		ids[i] = fmt.Sprintf("$e%02d", i)
		w.Events = append(w.Events, storage.EventUpdate{Event: event(rid, ids[i]), Destinations: dests})
	}
	if _, err := stores[0].WriteRoom(ctx, w); err != nil {
		t.Fatal(err)
	}
	redactedJSON := func(id string) []byte { return fmt.Appendf(nil, `{"event_id":%q,"redacted":true}`, id) }

	var (
		mu       sync.Mutex
		got      = map[string]map[string][]string{} // dest -> event ID -> payloads sent
		redacted = make(chan struct{})
	)
	for _, d := range dests {
		got[d] = map[string][]string{}
	}
	var redactWG sync.WaitGroup
	order := rand.Perm(events)
	for k := range 2 {
		redactWG.Go(func() {
			// Two or three events per write, so one write takes several
			// destinations' locks.
			mine := order[k*events/2 : (k+1)*events/2]
			for len(mine) > 0 {
				n := min(len(mine), 2+rand.IntN(2))
				var rw storage.RoomWrite
				for _, i := range mine[:n] {
					rw.Redact = append(rw.Redact, storage.RedactedEvent{EventID: ids[i], JSON: redactedJSON(ids[i]), RedactedBy: "$red"})
				}
				mine = mine[n:]
				if _, err := stores[1+k].WriteRoom(ctx, rw); err != nil {
					t.Errorf("redact: %v", err)
					return
				}
			}
		})
	}
	go func() { redactWG.Wait(); close(redacted) }()

	run(t, len(dests), func(i int) error {
		d, s := dests[i], stores[2+i]
		seen := map[string][]string{} // TxnID -> its PDUs
		for {
			txn, err := s.NextTransaction(ctx, d, 1+rand.IntN(4), 0)
			if errors.Is(err, storage.ErrNotFound) {
				select {
				case <-redacted:
					return nil
				default:
					continue
				}
			}
			if err != nil {
				return err
			}
			pdus := make([]string, len(txn.PDUs))
			for j, p := range txn.PDUs {
				pdus[j] = string(p)
			}
			if before, ok := seen[txn.TxnID]; ok && !slices.Equal(before, pdus) {
				return fmt.Errorf("%s: transaction %s changed content: %q, then %q", d, txn.TxnID, before, pdus)
			}
			seen[txn.TxnID] = pdus
			if rand.IntN(3) == 0 {
				continue // not acknowledged: handed out again
			}
			if err := s.CompleteTransaction(ctx, d, txn.TxnID); err != nil {
				return err
			}
			mu.Lock()
			for _, p := range pdus {
				var e struct {
					EventID string `json:"event_id"`
				}
				if err := json.Unmarshal([]byte(p), &e); err != nil {
					mu.Unlock()
					return fmt.Errorf("%s: payload %q: %w", d, p, err)
				}
				got[d][e.EventID] = append(got[d][e.EventID], p)
			}
			mu.Unlock()
		}
	})

	wholeSent := 0
	for _, d := range dests {
		for _, id := range ids {
			whole, red := string(event(rid, id).JSON), string(redactedJSON(id))
			if ps := got[d][id]; len(ps) != 1 || ps[0] != whole && ps[0] != red {
				t.Errorf("%s was sent %s as %q, want it once, whole or redacted", d, id, ps)
			} else if ps[0] == whole {
				wholeSent++
			}
		}
	}
	t.Logf("%d of %d copies sent before their redaction", wholeSent, len(dests)*events)
	for _, id := range ids {
		if e, err := stores[0].Event(ctx, id); err != nil || e.RedactedBy != "$red" {
			t.Errorf("%s after the redactions: %+v, %v", id, e, err)
		}
	}
}
