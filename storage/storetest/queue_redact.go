package storetest

import (
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

// redactNow stores the redaction of eventID by by and returns the
// redacted JSON it gave the store.
func redactNow(t *testing.T, s storage.Store, eventID, by string) []byte {
	t.Helper()
	r := redactOf(eventID, by)
	_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Redact: []storage.RedactedEvent{r}})
	mustOK(t, "WriteRoom (redact "+eventID+")", err)
	return r.JSON
}

// mustDrained fails t unless dest has nothing left to send.
func mustDrained(t *testing.T, s storage.Store, dest string) {
	t.Helper()
	_, err := s.NextTransaction(ctx(t), dest, 50, 100)
	mustNotFound(t, "NextTransaction "+dest+" after everything was sent", err)
}

// testQueueRedact checks that a redaction reaches the queued copies of its
// event that are not yet in a transaction, and only those: a deleted event
// is not sent whole once the redaction is stored, and a transaction keeps
// its content until it is acknowledged.
func testQueueRedact(t *testing.T, open opener) {
	const rid = "!room:t"

	t.Run("UnsentCopiesRedacted", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		m := msg(rid, "$m")
		other := msg(rid, "$other", "$m")
		write(t, s, upd(m, "a.example", "b.example"))
		edu := queueEDU(t, s, "a.example", "typing")
		write(t, s, upd(other, "a.example"))

		red := redactNow(t, s, "$m", "$red")

		// Every unsent copy of $m is redacted; the EDU and another event
		// queued beside it are sent as they were.
		ta := nextTxn(t, s, "a.example", 50, 100)
		eqTxn(t, "a.example", ta, storage.Transaction{
			Destination: "a.example", TxnID: ta.TxnID, PDUs: [][]byte{red, other.JSON}, EDUs: [][]byte{edu},
		})
		tb := nextTxn(t, s, "b.example", 50, 100)
		eqTxn(t, "b.example", tb, storage.Transaction{Destination: "b.example", TxnID: tb.TxnID, PDUs: [][]byte{red}})
	})

	t.Run("RedactedAgain", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		write(t, s, upd(msg(rid, "$m"), "a.example"))
		redactNow(t, s, "$m", "$red1")
		red2 := redactNow(t, s, "$m", "$red2")
		txn := nextTxn(t, s, "a.example", 50, 100)
		eqTxn(t, "after two redactions", txn, storage.Transaction{Destination: "a.example", TxnID: txn.TxnID, PDUs: [][]byte{red2}})
	})

	t.Run("TransactionKeepsItsContent", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		m := msg(rid, "$m")
		write(t, s, upd(m, "busy.example", "idle.example"))
		edu := queueEDU(t, s, "busy.example", "typing")
		handedOut := nextTxn(t, s, "busy.example", 50, 100)
		eqTxn(t, "before the redaction", handedOut, storage.Transaction{
			Destination: "busy.example", TxnID: handedOut.TxnID, PDUs: [][]byte{m.JSON}, EDUs: [][]byte{edu},
		})

		red := redactNow(t, s, "$m", "$red")

		// The retry of the open transaction is the same transaction.
		eqTxn(t, "retry after the redaction", nextTxn(t, s, "busy.example", 50, 100), handedOut)
		// A destination that had not been sent $m yet gets it redacted.
		ti := nextTxn(t, s, "idle.example", 50, 100)
		eqTxn(t, "idle.example", ti, storage.Transaction{Destination: "idle.example", TxnID: ti.TxnID, PDUs: [][]byte{red}})

		// Once acknowledged, $m is not sent again, whole or redacted.
		mustOK(t, "CompleteTransaction", s.CompleteTransaction(ctx(t), "busy.example", handedOut.TxnID))
		mustDrained(t, s, "busy.example")
		later := queuePDU(t, s, rid, "$later", "busy.example")
		next := nextTxn(t, s, "busy.example", 50, 100)
		eqTxn(t, "the next transaction", next, storage.Transaction{Destination: "busy.example", TxnID: next.TxnID, PDUs: [][]byte{later}})
	})

	t.Run("QueuedAndRedactedInOneWrite", func(t *testing.T) {
		s := open(t)
		r := room(rid, 1)
		red := redactOf("$m", "$red")
		_, err := s.WriteRoom(ctx(t), storage.RoomWrite{
			Room:   &r,
			Events: []storage.EventUpdate{upd(msg(rid, "$m"), "a.example")},
			Redact: []storage.RedactedEvent{red},
		})
		mustOK(t, "WriteRoom", err)
		txn := nextTxn(t, s, "a.example", 50, 100)
		eqTxn(t, "queued and redacted in one write", txn, storage.Transaction{Destination: "a.example", TxnID: txn.TxnID, PDUs: [][]byte{red.JSON}})
	})

	// An event written already redacted is queued as given.
	t.Run("WrittenRedacted", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		e := redacted(msg(rid, "$m"), "$red")
		write(t, s, upd(e, "a.example"))
		txn := nextTxn(t, s, "a.example", 50, 100)
		eqTxn(t, "written redacted", txn, storage.Transaction{Destination: "a.example", TxnID: txn.TxnID, PDUs: [][]byte{e.JSON}})
	})

	// A parked event redacted, then written again whole with destinations,
	// stays redacted in the queue as in the events.
	t.Run("RewrittenAfterItsRedaction", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		parked := msg(rid, "$m")
		parked.Status, parked.RejectReason = storage.StatusParked, "missing prev"
		write(t, s, upd(parked))
		red := redactNow(t, s, "$m", "$red")
		write(t, s, upd(msg(rid, "$m"), "a.example"))
		txn := nextTxn(t, s, "a.example", 50, 100)
		eqTxn(t, "rewritten after its redaction", txn, storage.Transaction{Destination: "a.example", TxnID: txn.TxnID, PDUs: [][]byte{red}})
	})

	// A redaction that fails (its write redacts a missing event) leaves
	// the queue alone.
	t.Run("FailedWriteLeavesQueue", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		m := msg(rid, "$m")
		write(t, s, upd(m, "a.example"))
		_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Redact: []storage.RedactedEvent{
			redactOf("$m", "$red"), redactOf("$missing", "$red"),
		}})
		mustNotFound(t, "WriteRoom redacting a missing event", err)
		txn := nextTxn(t, s, "a.example", 50, 100)
		eqTxn(t, "after a failed redaction", txn, storage.Transaction{Destination: "a.example", TxnID: txn.TxnID, PDUs: [][]byte{m.JSON}})
	})
}
