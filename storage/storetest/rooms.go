package storetest

import (
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

func testRooms(t *testing.T, open opener) {
	t.Run("Missing", func(t *testing.T) {
		s := open(t)
		_, err := s.Room(ctx(t), "!missing:test.example")
		mustNotFound(t, "Room of a missing room", err)
		rooms, err := s.Rooms(ctx(t))
		mustOK(t, "Rooms", err)
		if len(rooms) != 0 {
			t.Fatalf("Rooms of an empty store: got %d", len(rooms))
		}
	})

	t.Run("CreateAndOldestFirst", func(t *testing.T) {
		s := open(t)
		r1, r2, r3 := room("!one:t", 100), room("!two:t", 200), room("!three:t", 300)
		r2.Version = "11"
		for _, r := range []storage.Room{r2, r1, r3} {
			createRoom(t, s, r)
		}
		got, err := s.Room(ctx(t), r2.RoomID)
		mustOK(t, "Room", err)
		if got != r2 {
			t.Fatalf("Room: got %+v, want %+v", got, r2)
		}
		rooms, err := s.Rooms(ctx(t))
		mustOK(t, "Rooms", err)
		want := []storage.Room{r1, r2, r3}
		if len(rooms) != len(want) {
			t.Fatalf("Rooms: got %+v, want %+v", rooms, want)
		}
		for i := range want {
			if rooms[i] != want[i] {
				t.Fatalf("Rooms: got %+v, want %+v", rooms, want)
			}
		}
	})

	t.Run("ExistingRoomKept", func(t *testing.T) {
		s := open(t)
		r := room("!r:t", 100)
		createRoom(t, s, r)
		again := storage.Room{RoomID: r.RoomID, Version: "1", CreatedTS: 999}
		createRoom(t, s, again)
		got, err := s.Room(ctx(t), r.RoomID)
		mustOK(t, "Room", err)
		if got != r {
			t.Fatalf("Room after a second create: got %+v, want the first %+v", got, r)
		}
		rooms, err := s.Rooms(ctx(t))
		mustOK(t, "Rooms", err)
		if len(rooms) != 1 {
			t.Fatalf("Rooms: got %d, want 1", len(rooms))
		}
	})
}

func testWriteRoom(t *testing.T, open opener) {
	const rid = "!room:t"

	t.Run("CreateWithEvents", func(t *testing.T) {
		s := open(t)
		r := room(rid, 100)
		create := stateEv(rid, "$create", "m.room.create", "")
		m := msg(rid, "$msg", "$create")
		pos, err := s.WriteRoom(ctx(t), storage.RoomWrite{Room: &r, Events: []storage.EventUpdate{upd(create), upd(m)}})
		mustOK(t, "WriteRoom", err)
		if len(pos) != 2 {
			t.Fatalf("WriteRoom: got %d positions, want 2", len(pos))
		}
		mustIncrease(t, "WriteRoom", pos...)
		got, err := s.Room(ctx(t), rid)
		mustOK(t, "Room", err)
		if got != r {
			t.Fatalf("Room: got %+v, want %+v", got, r)
		}
		create.StreamPos, m.StreamPos = pos[0], pos[1]
		e, err := s.Event(ctx(t), "$create")
		mustOK(t, "Event $create", err)
		eqEvent(t, "Event $create", e, create)
		e, err = s.Event(ctx(t), "$msg")
		mustOK(t, "Event $msg", err)
		eqEvent(t, "Event $msg", e, m)
	})

	t.Run("StreamPosIncreasesAcrossWritesAndRooms", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room("!a:t", 1))
		createRoom(t, s, room("!b:t", 2))
		var all []int64
		all = append(all, write(t, s, upd(msg("!a:t", "$a1")), upd(msg("!a:t", "$a2", "$a1")))...)
		all = append(all, write(t, s, upd(msg("!b:t", "$b1")))...)
		all = append(all, write(t, s, upd(msg("!a:t", "$a3", "$a2")), upd(msg("!b:t", "$b2", "$b1")))...)
		mustIncrease(t, "StreamPos across writes", all...)
	})

	t.Run("Idempotent", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		name := stateEv(rid, "$name", "m.room.name", "")
		first := write(t, s, upd(name, "dest.example"))
		mustIncrease(t, "first write", first...)

		// Drain the queue so a second enqueue would show.
		txn, err := s.NextTransaction(ctx(t), "dest.example", 10, 10)
		mustOK(t, "NextTransaction", err)
		mustOK(t, "CompleteTransaction", s.CompleteTransaction(ctx(t), "dest.example", txn.TxnID))

		// The same event again, with different content and another
		// destination, next to a new event.
		changed := name
		changed.JSON = []byte(`{"changed":true}`)
		changed.Status = storage.StatusRejected
		topic := stateEv(rid, "$topic", "m.room.topic", "", "$name")
		again := write(t, s, upd(changed, "other.example"), upd(topic))
		if again[0] != first[0] {
			t.Fatalf("re-written event: got StreamPos %d, want its existing %d", again[0], first[0])
		}
		mustIncrease(t, "new event after a re-written one", first[0], again[1])

		name.StreamPos = first[0]
		e, err := s.Event(ctx(t), "$name")
		mustOK(t, "Event", err)
		eqEvent(t, "re-written event left as it was", e, name)
		eqStrings(t, "nothing queued for the skipped event", pending(t, s), nil)
		eqStrings(t, "state", stateIDs(t, s, rid), []string{"$name", "$topic"})

		// Twice in one write: the second is skipped too.
		m := msg(rid, "$m", "$topic")
		twice := write(t, s, upd(m), upd(m))
		if twice[0] != twice[1] {
			t.Fatalf("one event twice in a write: got positions %v, want equal", twice)
		}
	})

	t.Run("AtomicNewRoom", func(t *testing.T) {
		s := open(t)
		r := room("!new:t", 1)
		_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Room: &r, Events: []storage.EventUpdate{
			upd(stateEv("!new:t", "$create", "m.room.create", ""), "dest.example"),
			upd(msg("!missing:t", "$stray")),
		}})
		if err == nil {
			t.Fatal("WriteRoom with an event in a room that does not exist: got no error")
		}
		_, err = s.Room(ctx(t), "!new:t")
		mustNotFound(t, "Room created by a failed write", err)
		_, err = s.Event(ctx(t), "$create")
		mustNotFound(t, "first event of a failed write", err)
		_, err = s.Event(ctx(t), "$stray")
		mustNotFound(t, "second event of a failed write", err)
		eqStrings(t, "destinations queued by a failed write", pending(t, s), nil)
		rooms, err := s.Rooms(ctx(t))
		mustOK(t, "Rooms", err)
		if len(rooms) != 0 {
			t.Fatalf("Rooms after a failed write: %+v", rooms)
		}
	})

	t.Run("AtomicExistingRoom", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		before := write(t, s, upd(stateEv(rid, "$create", "m.room.create", "")))
		_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Events: []storage.EventUpdate{
			upd(stateEv(rid, "$name", "m.room.name", "", "$create"), "dest.example"),
			upd(msg("!missing:t", "$stray")),
		}})
		if err == nil {
			t.Fatal("WriteRoom with an event in a room that does not exist: got no error")
		}
		_, err = s.Event(ctx(t), "$name")
		mustNotFound(t, "first event of a failed write", err)
		_, err = s.StateEvent(ctx(t), rid, "m.room.name", "")
		mustNotFound(t, "state set by a failed write", err)
		eqStrings(t, "state after a failed write", stateIDs(t, s, rid), []string{"$create"})
		eqStrings(t, "extremities after a failed write", extremities(t, s, rid), []string{"$create"})
		eqStrings(t, "destinations queued by a failed write", pending(t, s), nil)
		evs, err := s.RoomEvents(ctx(t), rid, 0, 100)
		mustOK(t, "RoomEvents", err)
		eqStrings(t, "RoomEvents after a failed write", eventIDs(evs), []string{"$create"})

		// The same event succeeds afterwards, after what was stored before.
		after := write(t, s, upd(stateEv(rid, "$name", "m.room.name", "", "$create")))
		mustIncrease(t, "write after a failed one", before[0], after[0])
	})

	t.Run("EventsInMissingRoom", func(t *testing.T) {
		s := open(t)
		_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Events: []storage.EventUpdate{upd(msg("!missing:t", "$e"))}})
		if err == nil {
			t.Fatal("WriteRoom into a room that does not exist: got no error")
		}
		_, err = s.Event(ctx(t), "$e")
		mustNotFound(t, "event of a failed write", err)
	})

	t.Run("Destinations", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		e1 := msg(rid, "$1")
		e2 := msg(rid, "$2", "$1")
		e3 := msg(rid, "$3", "$2")
		write(t, s, upd(e1, "a.example", "b.example"), upd(e2, "a.example"), upd(e3))
		eqStrings(t, "PendingDestinations", pending(t, s), []string{"a.example", "b.example"})
		txn, err := s.NextTransaction(ctx(t), "a.example", 10, 10)
		mustOK(t, "NextTransaction a", err)
		eqBytesList(t, "PDUs for a", txn.PDUs, [][]byte{e1.JSON, e2.JSON})
		if len(txn.EDUs) != 0 {
			t.Fatalf("EDUs for a: got %d, want 0", len(txn.EDUs))
		}
		txn, err = s.NextTransaction(ctx(t), "b.example", 10, 10)
		mustOK(t, "NextTransaction b", err)
		eqBytesList(t, "PDUs for b", txn.PDUs, [][]byte{e1.JSON})
	})
}
