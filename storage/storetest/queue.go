package storetest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

// queuePDU stores a new event in room rid queued for dest and returns its
// JSON. The room must exist.
func queuePDU(t *testing.T, s storage.Store, rid, eventID, dest string) []byte {
	t.Helper()
	e := msg(rid, eventID)
	write(t, s, storage.EventUpdate{Event: e, Destinations: []string{dest}})
	return e.JSON
}

// queueEDU queues an EDU for dest and returns it.
func queueEDU(t *testing.T, s storage.Store, dest, name string) []byte {
	t.Helper()
	edu := []byte(fmt.Sprintf(`{"edu_type":"m.typing","content":{"n":%q}}`, name))
	mustOK(t, "EnqueueEDU", s.EnqueueEDU(ctx(t), dest, edu))
	return edu
}

// nextTxn calls NextTransaction and checks the destination and TxnID.
func nextTxn(t *testing.T, s storage.Store, dest string, maxPDUs, maxEDUs int) storage.Transaction {
	t.Helper()
	txn, err := s.NextTransaction(ctx(t), dest, maxPDUs, maxEDUs)
	mustOK(t, "NextTransaction "+dest, err)
	if txn.Destination != dest {
		t.Fatalf("NextTransaction: Destination %q, want %q", txn.Destination, dest)
	}
	if txn.TxnID == "" {
		t.Fatal("NextTransaction: empty TxnID")
	}
	return txn
}

// eqTxn fails t unless got is want: same ID and content.
func eqTxn(t *testing.T, what string, got, want storage.Transaction) {
	t.Helper()
	if got.TxnID != want.TxnID || got.Destination != want.Destination {
		t.Fatalf("%s: got transaction %s to %s, want %s to %s", what, got.TxnID, got.Destination, want.TxnID, want.Destination)
	}
	eqBytesList(t, what+" PDUs", got.PDUs, want.PDUs)
	eqBytesList(t, what+" EDUs", got.EDUs, want.EDUs)
}

func testQueue(t *testing.T, open opener) {
	const rid = "!room:t"

	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		eqStrings(t, "PendingDestinations", pending(t, s), nil)
		_, err := s.NextTransaction(ctx(t), "a.example", 50, 100)
		mustNotFound(t, "NextTransaction with nothing queued", err)
	})

	t.Run("LimitsOrderAndReplay", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		const d = "a.example"
		p1 := queuePDU(t, s, rid, "$p1", d)
		e1 := queueEDU(t, s, d, "e1")
		e2 := queueEDU(t, s, d, "e2")
		p2 := queuePDU(t, s, rid, "$p2", d)
		p3 := queuePDU(t, s, rid, "$p3", d)
		e3 := queueEDU(t, s, d, "e3")
		eqStrings(t, "PendingDestinations", pending(t, s), []string{d})

		first := nextTxn(t, s, d, 2, 2)
		eqTxn(t, "first transaction", first, storage.Transaction{
			Destination: d, TxnID: first.TxnID, PDUs: [][]byte{p1, p2}, EDUs: [][]byte{e1, e2},
		})

		// Items queued while a transaction is open wait for the next one.
		p4 := queuePDU(t, s, rid, "$p4", d)
		e4 := queueEDU(t, s, d, "e4")
		eqTxn(t, "same limits again", nextTxn(t, s, d, 2, 2), first)
		eqTxn(t, "larger limits again", nextTxn(t, s, d, 50, 100), first)

		// Completing another transaction ID removes nothing.
		_ = s.CompleteTransaction(ctx(t), d, first.TxnID+"-other")
		eqTxn(t, "after completing another ID", nextTxn(t, s, d, 2, 2), first)

		mustOK(t, "CompleteTransaction", s.CompleteTransaction(ctx(t), d, first.TxnID))
		second := nextTxn(t, s, d, 50, 100)
		if second.TxnID == first.TxnID {
			t.Fatalf("second transaction reuses TxnID %q", first.TxnID)
		}
		eqTxn(t, "second transaction", second, storage.Transaction{
			Destination: d, TxnID: second.TxnID, PDUs: [][]byte{p3, p4}, EDUs: [][]byte{e3, e4},
		})
		eqStrings(t, "PendingDestinations with an open transaction", pending(t, s), []string{d})
		mustOK(t, "CompleteTransaction", s.CompleteTransaction(ctx(t), d, second.TxnID))
		_, err := s.NextTransaction(ctx(t), d, 50, 100)
		mustNotFound(t, "NextTransaction after everything was sent", err)
		eqStrings(t, "PendingDestinations after everything was sent", pending(t, s), nil)
	})

	t.Run("OneKindOnly", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		e1 := queueEDU(t, s, "edu.example", "1")
		p1 := queuePDU(t, s, rid, "$p1", "pdu.example")
		txn := nextTxn(t, s, "edu.example", 50, 100)
		eqTxn(t, "EDU only", txn, storage.Transaction{Destination: "edu.example", TxnID: txn.TxnID, EDUs: [][]byte{e1}})
		txn = nextTxn(t, s, "pdu.example", 50, 100)
		eqTxn(t, "PDU only", txn, storage.Transaction{Destination: "pdu.example", TxnID: txn.TxnID, PDUs: [][]byte{p1}})
		// A limit caps one kind without holding back the other.
		for i := range 3 {
			queueEDU(t, s, "many.example", fmt.Sprint(i))
		}
		txn = nextTxn(t, s, "many.example", 50, 1)
		if len(txn.EDUs) != 1 || len(txn.PDUs) != 0 {
			t.Fatalf("maxEDUs 1: got %d PDUs and %d EDUs", len(txn.PDUs), len(txn.EDUs))
		}
	})

	t.Run("DestinationsIndependent", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		a1 := queueEDU(t, s, "a.example", "a1")
		b1 := queueEDU(t, s, "b.example", "b1")
		p := msg(rid, "$shared")
		write(t, s, storage.EventUpdate{Event: p, Destinations: []string{"a.example", "b.example"}})
		a2 := queueEDU(t, s, "a.example", "a2")
		eqStrings(t, "PendingDestinations", pending(t, s), []string{"a.example", "b.example"})

		ta := nextTxn(t, s, "a.example", 50, 1)
		eqTxn(t, "a", ta, storage.Transaction{Destination: "a.example", TxnID: ta.TxnID, PDUs: [][]byte{p.JSON}, EDUs: [][]byte{a1}})
		tb := nextTxn(t, s, "b.example", 50, 100)
		eqTxn(t, "b", tb, storage.Transaction{Destination: "b.example", TxnID: tb.TxnID, PDUs: [][]byte{p.JSON}, EDUs: [][]byte{b1}})

		// Completing a's transaction, even under b's ID, leaves b alone.
		_ = s.CompleteTransaction(ctx(t), "a.example", tb.TxnID)
		mustOK(t, "CompleteTransaction a", s.CompleteTransaction(ctx(t), "a.example", ta.TxnID))
		eqTxn(t, "b after a completed", nextTxn(t, s, "b.example", 50, 100), tb)
		ta2 := nextTxn(t, s, "a.example", 50, 100)
		eqTxn(t, "a's second transaction", ta2, storage.Transaction{Destination: "a.example", TxnID: ta2.TxnID, EDUs: [][]byte{a2}})
		mustOK(t, "CompleteTransaction b", s.CompleteTransaction(ctx(t), "b.example", tb.TxnID))
		eqStrings(t, "PendingDestinations", pending(t, s), []string{"a.example"})
	})

	t.Run("TxnIDsUnique", func(t *testing.T) {
		s := open(t)
		seen := map[string]bool{}
		for i := range 20 {
			queueEDU(t, s, "a.example", fmt.Sprint(i))
			txn := nextTxn(t, s, "a.example", 50, 100)
			if seen[txn.TxnID] {
				t.Fatalf("TxnID %q used twice for a destination", txn.TxnID)
			}
			seen[txn.TxnID] = true
			mustOK(t, "CompleteTransaction", s.CompleteTransaction(ctx(t), "a.example", txn.TxnID))
		}
	})

	t.Run("CallerOwnsBytes", func(t *testing.T) {
		s := open(t)
		edu := []byte(`{"edu_type":"x"}`)
		mustOK(t, "EnqueueEDU", s.EnqueueEDU(ctx(t), "a.example", edu))
		edu[0] = '!'
		txn := nextTxn(t, s, "a.example", 1, 1)
		if len(txn.EDUs) != 1 || !bytes.Equal(txn.EDUs[0], []byte(`{"edu_type":"x"}`)) {
			t.Fatalf("EDU changed with the caller's slice: %s", quoteAll(txn.EDUs))
		}
		txn.EDUs[0][0] = '!'
		again := nextTxn(t, s, "a.example", 1, 1)
		if !bytes.Equal(again.EDUs[0], []byte(`{"edu_type":"x"}`)) {
			t.Fatalf("EDU changed with a returned slice: %s", again.EDUs[0])
		}
	})
}
