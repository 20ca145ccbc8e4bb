package storetest

import (
	"context"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

// CheckUpgradedToRelations checks a store just upgraded from the schema
// before relations and redactions, holding the rows every backend's
// upgrade test writes: room !r:t with events $m ({"m":1}) and $x
// ({"x":1}, a child of $m), and one receipt. The old rows come back
// whole, and relations and redactions work on them.
func CheckUpgradedToRelations(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := context.Background()
	for id, js := range map[string]string{"$m": `{"m":1}`, "$x": `{"x":1}`} {
		e, err := s.Event(ctx, id)
		if err != nil || string(e.JSON) != js || e.RedactedBy != "" || e.Status != storage.StatusAccepted {
			t.Fatalf("Event %s after the upgrade: %+v, %v", id, e, err)
		}
	}
	if rs, err := s.Receipts(ctx, "!r:t", ""); err != nil || len(rs) != 1 {
		t.Fatalf("Receipts after the upgrade: %v, %v", rs, err)
	}
	if rs, err := s.Relations(ctx, []string{"$m"}, ""); err != nil || len(rs) != 0 {
		t.Fatalf("Relations after the upgrade: %v, %v", rs, err)
	}
	pos, err := s.WriteRoom(ctx, storage.RoomWrite{
		Events: []storage.EventUpdate{{
			Event:    storage.Event{EventID: "$r", RoomID: "!r:t", Type: "m.reaction", PrevEvents: []string{"$x"}, JSON: []byte(`{}`)},
			Relation: &storage.Relation{TargetID: "$m", RelType: "m.annotation", Key: "k"},
		}},
		Redactions: []storage.Redaction{{RedactionID: "$red", RoomID: "!r:t", TargetID: "$x", Applied: true}},
		Redact:     []storage.RedactedEvent{{EventID: "$x", JSON: []byte(`{"redacted":1}`), RedactedBy: "$red"}},
	})
	if err != nil {
		t.Fatalf("WriteRoom after the upgrade: %v", err)
	}
	rels, err := s.Relations(ctx, []string{"$m"}, "m.annotation")
	if err != nil || len(rels) != 1 || rels[0].EventID != "$r" || rels[0].StreamPos != pos[0] {
		t.Fatalf("Relations of an old event: %+v, %v", rels, err)
	}
	e, err := s.Event(ctx, "$x")
	if err != nil || string(e.JSON) != `{"redacted":1}` || e.RedactedBy != "$red" {
		t.Fatalf("old event redacted after the upgrade: %+v, %v", e, err)
	}
}

// CheckUpgradedToQueueEvents checks a store just upgraded from the schema
// before queued PDUs knew their event, holding the rows every backend's
// upgrade test writes: room !r:t with event $m ({"m":1}); queued for
// busy.example, in its open transaction "1.old", the PDU {"m":1}; queued
// for old.example and in no transaction, the PDU {"m":1} then the EDU
// {"e":1}. The old rows are still sent as they were, the open transaction
// with its ID, and a PDU queued after the upgrade is redacted in the queue.
func CheckUpgradedToQueueEvents(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := context.Background()
	busy, err := s.NextTransaction(ctx, "busy.example", 50, 100)
	if err != nil || busy.TxnID != "1.old" || len(busy.PDUs) != 1 || string(busy.PDUs[0]) != `{"m":1}` || len(busy.EDUs) != 0 {
		t.Fatalf("open transaction after the upgrade: %+v, %v", busy, err)
	}
	old, err := s.NextTransaction(ctx, "old.example", 50, 100)
	if err != nil || len(old.PDUs) != 1 || string(old.PDUs[0]) != `{"m":1}` ||
		len(old.EDUs) != 1 || string(old.EDUs[0]) != `{"e":1}` {
		t.Fatalf("queued items after the upgrade: %+v, %v", old, err)
	}
	for _, txn := range []storage.Transaction{busy, old} {
		if err := s.CompleteTransaction(ctx, txn.Destination, txn.TxnID); err != nil {
			t.Fatalf("CompleteTransaction %s after the upgrade: %v", txn.Destination, err)
		}
	}

	_, err = s.WriteRoom(ctx, storage.RoomWrite{Events: []storage.EventUpdate{{
		Event:        storage.Event{EventID: "$n", RoomID: "!r:t", Type: "m.room.message", PrevEvents: []string{"$m"}, JSON: []byte(`{"n":1}`)},
		Destinations: []string{"old.example"},
	}}})
	if err != nil {
		t.Fatalf("WriteRoom after the upgrade: %v", err)
	}
	_, err = s.WriteRoom(ctx, storage.RoomWrite{Redact: []storage.RedactedEvent{{EventID: "$n", JSON: []byte(`{"redacted":1}`), RedactedBy: "$red"}}})
	if err != nil {
		t.Fatalf("WriteRoom (redact) after the upgrade: %v", err)
	}
	next, err := s.NextTransaction(ctx, "old.example", 50, 100)
	if err != nil || len(next.PDUs) != 1 || string(next.PDUs[0]) != `{"redacted":1}` || len(next.EDUs) != 0 {
		t.Fatalf("PDU queued and redacted after the upgrade: %+v, %v", next, err)
	}
}
