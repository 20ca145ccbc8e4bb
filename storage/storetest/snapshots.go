package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

func se(typ, key, id string) storage.StateEntry {
	return storage.StateEntry{Type: typ, StateKey: key, EventID: id}
}

func eqState(t *testing.T, what string, got, want []storage.StateEntry) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func testSnapshots(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	createRoom(t, s, room("!r:test.example", 1))

	base, err := s.WriteSnapshot(c, "!r:test.example", 0, []storage.StateEntry{
		se("m.room.member", "@b:x", "$b1"), se("m.room.create", "", "$c"), se("m.room.member", "@a:x", "$a1"),
	})
	mustOK(t, "WriteSnapshot (full)", err)
	if base == 0 {
		t.Fatal("WriteSnapshot returned ID 0")
	}
	got, err := s.Snapshot(c, base)
	mustOK(t, "Snapshot", err)
	eqState(t, "full snapshot, sorted", got, []storage.StateEntry{
		se("m.room.create", "", "$c"), se("m.room.member", "@a:x", "$a1"), se("m.room.member", "@b:x", "$b1"),
	})

	same, err := s.WriteSnapshot(c, "!r:test.example", base, nil)
	mustOK(t, "WriteSnapshot (empty delta)", err)
	if same != base {
		t.Fatalf("an empty delta made snapshot %d, want the parent %d", same, base)
	}

	child, err := s.WriteSnapshot(c, "!r:test.example", base, []storage.StateEntry{
		se("m.room.member", "@a:x", "$a2"), se("m.room.member", "@b:x", ""), se("m.room.name", "", "$n"),
	})
	mustOK(t, "WriteSnapshot (delta)", err)
	got, err = s.Snapshot(c, child)
	mustOK(t, "Snapshot (delta)", err)
	eqState(t, "delta replaces, removes and adds", got, []storage.StateEntry{
		se("m.room.create", "", "$c"), se("m.room.member", "@a:x", "$a2"), se("m.room.name", "", "$n"),
	})
	got, err = s.Snapshot(c, base)
	mustOK(t, "Snapshot (parent again)", err)
	if len(got) != 3 || got[2].EventID != "$b1" {
		t.Fatalf("writing a child changed its parent: %v", got)
	}

	// A long chain of deltas still reads back right.
	id := child
	for i := range 100 {
		id, err = s.WriteSnapshot(c, "!r:test.example", id, []storage.StateEntry{se("m.room.member", fmt.Sprintf("@u%03d:x", i), fmt.Sprintf("$m%d", i))})
		mustOK(t, "WriteSnapshot (chain)", err)
	}
	got, err = s.Snapshot(c, id)
	mustOK(t, "Snapshot (chain)", err)
	if len(got) != 103 || got[len(got)-1] != se("m.room.name", "", "$n") {
		t.Fatalf("after 100 deltas: %d entries, last %v", len(got), got[len(got)-1])
	}

	_, err = s.Snapshot(c, 987654)
	mustNotFound(t, "Snapshot of a missing ID", err)
	_, err = s.WriteSnapshot(c, "!r:test.example", 987654, []storage.StateEntry{se("a", "", "$x")})
	mustNotFound(t, "WriteSnapshot over a missing parent", err)
}

func testRoomState(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	r := room("!r:test.example", 1)
	create := stateEv(r.RoomID, "$create", "m.room.create", "")
	create.StateBefore, create.StateAfter = 7, 8
	snap, err := s.WriteSnapshot(c, r.RoomID, 0, []storage.StateEntry{se("m.room.create", "", "$create")})
	mustOK(t, "WriteSnapshot", err)
	_, err = s.WriteRoom(c, storage.RoomWrite{Room: &r, Events: []storage.EventUpdate{{Event: create, Extremity: true}},
		StateDelta: []storage.StateEntry{se("m.room.create", "", "$create")}, CurrentSnapshot: snap})
	mustOK(t, "WriteRoom with a state delta", err)

	got, err := s.Event(c, "$create")
	mustOK(t, "Event", err)
	if got.StateBefore != 7 || got.StateAfter != 8 {
		t.Fatalf("StateBefore/After = %d/%d, want 7/8", got.StateBefore, got.StateAfter)
	}
	rr, err := s.Room(c, r.RoomID)
	mustOK(t, "Room", err)
	if rr.CurrentSnapshot != snap {
		t.Fatalf("CurrentSnapshot = %d, want %d", rr.CurrentSnapshot, snap)
	}
	cur, err := s.CurrentState(c, r.RoomID)
	mustOK(t, "CurrentState", err)
	if len(cur) != 1 || cur[0].EventID != "$create" {
		t.Fatalf("current state after a delta: %v", cur)
	}

	name := stateEv(r.RoomID, "$name", "m.room.name", "", "$create")
	topic := stateEv(r.RoomID, "$topic", "m.room.topic", "", "$name")
	_, err = s.WriteRoom(c, storage.RoomWrite{Events: []storage.EventUpdate{{Event: name, Extremity: true}, {Event: topic, Extremity: true}},
		StateDelta: []storage.StateEntry{se("m.room.name", "", "$name"), se("m.room.topic", "", "$topic")}})
	mustOK(t, "WriteRoom", err)
	_, err = s.WriteRoom(c, storage.RoomWrite{Events: []storage.EventUpdate{{Event: msg(r.RoomID, "$m", "$topic"), Extremity: true}},
		StateDelta: []storage.StateEntry{se("m.room.name", "", "")}})
	mustOK(t, "WriteRoom removing a key", err)
	cur, err = s.CurrentState(c, r.RoomID)
	mustOK(t, "CurrentState", err)
	var ids []string
	for _, e := range cur {
		ids = append(ids, e.EventID)
	}
	eqStrings(t, "current state after add and remove", sorted(ids), []string{"$create", "$topic"})
	rr, _ = s.Room(c, r.RoomID)
	if rr.CurrentSnapshot != snap {
		t.Fatalf("a write without CurrentSnapshot changed it to %d", rr.CurrentSnapshot)
	}

	// A failing write leaves the state as it was.
	_, err = s.WriteRoom(c, storage.RoomWrite{Events: []storage.EventUpdate{{Event: msg("!missing:test.example", "$x")}},
		StateDelta: []storage.StateEntry{se("m.room.topic", "", "")}})
	if err == nil {
		t.Fatal("a write into a missing room succeeded")
	}
	if _, err := s.StateEvent(c, r.RoomID, "m.room.topic", ""); err != nil {
		t.Fatalf("a failed write removed state: %v", err)
	}

	kids, err := s.ChildEvents(c, "$name")
	mustOK(t, "ChildEvents", err)
	if len(kids) != 1 || kids[0].EventID != "$topic" {
		t.Fatalf("ChildEvents($name) = %v", kids)
	}
	kids, err = s.ChildEvents(c, "$nobody")
	mustOK(t, "ChildEvents of an unknown event", err)
	if len(kids) != 0 {
		t.Fatalf("ChildEvents of an unknown event = %v", kids)
	}
}

func testParked(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	r := room("!r:test.example", 1)
	createRoom(t, s, r)
	write(t, s, upd(msg(r.RoomID, "$a")))

	parked := msg(r.RoomID, "$p", "$a", "$missing")
	parked.Status = storage.StatusParked
	parked.RejectReason = "prev $missing unknown"
	pos := write(t, s, storage.EventUpdate{Event: parked})
	got, err := s.Event(c, "$p")
	mustOK(t, "Event (parked)", err)
	if got.Status != storage.StatusParked || got.RejectReason != parked.RejectReason {
		t.Fatalf("parked event read back as %v %q", got.Status, got.RejectReason)
	}
	evs, err := s.RoomEvents(c, r.RoomID, 0, 10)
	mustOK(t, "RoomEvents", err)
	for _, e := range evs {
		if e.EventID == "$p" {
			t.Fatal("a parked event is in RoomEvents")
		}
	}

	// Judged again, it is replaced and gets a new StreamPos.
	accepted := msg(r.RoomID, "$p", "$a", "$missing")
	again := write(t, s, upd(accepted))
	if again[0] <= pos[0] {
		t.Fatalf("re-judged parked event kept StreamPos %d (was %d)", again[0], pos[0])
	}
	got, err = s.Event(c, "$p")
	mustOK(t, "Event (re-judged)", err)
	if got.Status != storage.StatusAccepted {
		t.Fatalf("re-judged event status %v", got.Status)
	}
	ext, err := s.ForwardExtremities(c, r.RoomID)
	mustOK(t, "ForwardExtremities", err)
	eqStrings(t, "extremities after re-judging", ext, []string{"$p"})
	// An accepted event is not replaced.
	rejected := msg(r.RoomID, "$p", "$a")
	rejected.Status = storage.StatusRejected
	third := write(t, s, storage.EventUpdate{Event: rejected})
	if third[0] != again[0] {
		t.Fatal("an accepted event was replaced")
	}
}

func testOutlierPlaced(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	r := room("!r:test.example", 1)
	createRoom(t, s, r)
	write(t, s, upd(msg(r.RoomID, "$a")))
	outlier := stateEv(r.RoomID, "$o", "m.room.topic", "", "$a")
	pos := write(t, s, storage.EventUpdate{Event: outlier})
	// The outlier is part of the current state (as after a send_join).
	_, err := s.WriteRoom(c, storage.RoomWrite{Events: []storage.EventUpdate{{Event: msg(r.RoomID, "$b", "$a")}},
		StateDelta: []storage.StateEntry{se("m.room.topic", "", "$o")}})
	mustOK(t, "WriteRoom", err)
	again := write(t, s, storage.EventUpdate{Event: outlier})
	if again[0] != pos[0] {
		t.Fatal("an outlier written again as an outlier was replaced")
	}
	placed := stateEv(r.RoomID, "$o", "m.room.topic", "", "$a")
	placed.StateBefore, placed.StateAfter = 5, 5
	third := write(t, s, upd(placed))
	if third[0] <= pos[0] {
		t.Fatalf("an outlier placed in the room kept StreamPos %d", third[0])
	}
	got, err := s.Event(c, "$o")
	mustOK(t, "Event", err)
	if got.StateBefore != 5 {
		t.Fatalf("placed outlier has StateBefore %d", got.StateBefore)
	}
	ext, err := s.ForwardExtremities(c, r.RoomID)
	mustOK(t, "ForwardExtremities", err)
	eqStrings(t, "extremities", ext, []string{"$o"})
	if st, err := s.StateEvent(c, r.RoomID, "m.room.topic", ""); err != nil || st.EventID != "$o" {
		t.Fatalf("current state lost the replaced outlier: %v %v", st.EventID, err)
	}
	// Once placed, it is left alone.
	placed.StateBefore = 9
	fourth := write(t, s, upd(placed))
	if fourth[0] != third[0] {
		t.Fatal("a placed event was replaced")
	}
}

func testResetExtremities(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	r := room("!r:test.example", 1)
	createRoom(t, s, r)
	write(t, s, upd(msg(r.RoomID, "$a")), upd(msg(r.RoomID, "$old", "$a")))
	// A rejoin: the join cites events we never stored, and what we had is
	// no longer a forward extremity.
	_, err := s.WriteRoom(c, storage.RoomWrite{Room: &r, ResetExtremities: true,
		Events: []storage.EventUpdate{upd(msg(r.RoomID, "$join", "$unknown"))}})
	mustOK(t, "WriteRoom with ResetExtremities", err)
	ext, err := s.ForwardExtremities(c, r.RoomID)
	mustOK(t, "ForwardExtremities", err)
	eqStrings(t, "extremities after a reset", ext, []string{"$join"})
	_, err = s.WriteRoom(c, storage.RoomWrite{ResetExtremities: true, Events: []storage.EventUpdate{upd(msg(r.RoomID, "$x", "$join"))}})
	if err == nil {
		t.Fatal("ResetExtremities without Room succeeded")
	}
	ext, _ = s.ForwardExtremities(c, r.RoomID)
	eqStrings(t, "extremities after a refused reset", ext, []string{"$join"})
}
