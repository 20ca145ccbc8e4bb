package storetest

import (
	"path/filepath"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

// RunPersistence checks that a store keeps everything across Close and a
// new open of the same path: keys, rooms, events with their StreamPos,
// state, extremities, invites, queued items, the open outbound
// transaction (which must come back with the same TxnID and content),
// relations, recorded redactions and redacted events. The suite closes
// every store open returns; open need not arrange that.
func RunPersistence(t *testing.T, open func(t *testing.T, path string) storage.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	const (
		rid  = "!room:t"
		dest = "remote.example"
	)

	s := open(t, path)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = s.Close()
		}
	})

	key := storage.SigningKey{KeyID: "ed25519:k", Seed: seed(5), CreatedTS: 10}
	mustOK(t, "AddSigningKey", s.AddSigningKey(ctx(t), key))
	rkey := storage.RemoteKey{ServerName: dest, KeyID: "ed25519:r", PublicKey: []byte("pub"), ValidUntilTS: 99, Response: []byte(`{"r":1}`)}
	mustOK(t, "StoreRemoteKeys", s.StoreRemoteKeys(ctx(t), []storage.RemoteKey{rkey}))
	r := room(rid, 1000)
	create := stateEv(rid, "$create", "m.room.create", "")
	m1 := msg(rid, "$m1", "$create")
	m2 := msg(rid, "$m2", "$m1")
	pos, err := s.WriteRoom(ctx(t), storage.RoomWrite{Room: &r, Events: []storage.EventUpdate{
		upd(create), upd(m1, dest), upd(m2, dest),
	}})
	mustOK(t, "WriteRoom", err)
	create.StreamPos, m1.StreamPos, m2.StreamPos = pos[0], pos[1], pos[2]
	edu1 := queueEDU(t, s, dest, "1")
	edu2 := queueEDU(t, s, dest, "2")
	inv := invite(rid, "@bob:t", 5)
	mustOK(t, "PutInvite", s.PutInvite(ctx(t), inv))
	mustOK(t, "SaveInboundTransaction", s.SaveInboundTransaction(ctx(t), "o.example", "t1", []byte(`{"ok":1}`)))
	// Relations and redactions, in a room of their own.
	const rid2 = "!room2:t"
	r2 := room(rid2, 2000)
	target := msg(rid2, "$target")
	react := reaction(rid2, "$react", "$target", "👍", "$target")
	gone := msg(rid2, "$gone", "$react")
	red := storage.Redaction{RedactionID: "$red", RoomID: rid2, TargetID: "$gone", Sender: "@alice:t", Applied: true}
	early := storage.Redaction{RedactionID: "$early", RoomID: rid2, TargetID: "$not-yet", Sender: "@mod:t", ByPower: true}
	pos2, err := s.WriteRoom(ctx(t), storage.RoomWrite{Room: &r2,
		Events:     []storage.EventUpdate{upd(target), react, upd(gone)},
		Redactions: []storage.Redaction{red, early},
		Redact:     []storage.RedactedEvent{redactOf("$gone", "$red")},
	})
	mustOK(t, "WriteRoom (relations and redactions)", err)
	gone = redacted(gone, "$red")
	gone.StreamPos = pos2[2]

	open1 := nextTxn(t, s, dest, 1, 1)
	eqTxn(t, "open transaction", open1, storage.Transaction{
		Destination: dest, TxnID: open1.TxnID, PDUs: [][]byte{m1.JSON}, EDUs: [][]byte{edu1},
	})

	closed = true
	mustOK(t, "Close", s.Close())
	s = open(t, path)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	keys, err := s.SigningKeys(ctx(t))
	mustOK(t, "SigningKeys", err)
	eqSigningKeys(t, "SigningKeys after reopen", keys, []storage.SigningKey{key})
	rkeys, err := s.RemoteKeys(ctx(t), dest)
	mustOK(t, "RemoteKeys", err)
	if len(rkeys) != 1 || string(rkeys[0].Response) != `{"r":1}` || rkeys[0].ValidUntilTS != 99 {
		t.Fatalf("RemoteKeys after reopen: %+v", rkeys)
	}
	gotRoom, err := s.Room(ctx(t), rid)
	mustOK(t, "Room", err)
	if gotRoom != r {
		t.Fatalf("Room after reopen: got %+v, want %+v", gotRoom, r)
	}
	for _, want := range []storage.Event{create, m1, m2} {
		got, err := s.Event(ctx(t), want.EventID)
		mustOK(t, "Event", err)
		eqEvent(t, "Event after reopen", got, want)
	}
	evs, err := s.RoomEvents(ctx(t), rid, 0, 10)
	mustOK(t, "RoomEvents", err)
	eqStrings(t, "RoomEvents after reopen", eventIDs(evs), []string{"$create", "$m1", "$m2"})
	eqStrings(t, "CurrentState after reopen", stateIDs(t, s, rid), []string{"$create"})
	eqStrings(t, "ForwardExtremities after reopen", extremities(t, s, rid), []string{"$m2"})
	eqRelations(t, "Relations after reopen", relations(t, s, "", "$target"), []storage.Relation{relationOf(react, pos2[1])})
	got, err := s.Event(ctx(t), "$gone")
	mustOK(t, "Event $gone", err)
	eqEvent(t, "redacted event after reopen", got, gone)
	eqRedactions(t, "RedactionsFor after reopen", redactions(t, s, "$not-yet", "$gone"), []storage.Redaction{red, early})

	gotInv, err := s.Invite(ctx(t), rid, "@bob:t")
	mustOK(t, "Invite", err)
	eqInvite(t, "Invite after reopen", gotInv, inv)
	resp, err := s.InboundTransaction(ctx(t), "o.example", "t1")
	mustOK(t, "InboundTransaction", err)
	if string(resp) != `{"ok":1}` {
		t.Fatalf("InboundTransaction after reopen: %s", resp)
	}
	eqStrings(t, "PendingDestinations after reopen", pending(t, s), []string{dest})

	eqTxn(t, "open transaction after reopen", nextTxn(t, s, dest, 50, 100), open1)
	mustOK(t, "CompleteTransaction", s.CompleteTransaction(ctx(t), dest, open1.TxnID))
	next := nextTxn(t, s, dest, 50, 100)
	if next.TxnID == open1.TxnID {
		t.Fatalf("TxnID %q reused after reopen", next.TxnID)
	}
	eqTxn(t, "next transaction after reopen", next, storage.Transaction{
		Destination: dest, TxnID: next.TxnID, PDUs: [][]byte{m2.JSON}, EDUs: [][]byte{edu2},
	})

	more := write(t, s, upd(msg(rid, "$m3", "$m2")))
	mustIncrease(t, "StreamPos after reopen", create.StreamPos, m1.StreamPos, m2.StreamPos, more[0])
	eqStrings(t, "ForwardExtremities after a new write", extremities(t, s, rid), []string{"$m3"})
}
