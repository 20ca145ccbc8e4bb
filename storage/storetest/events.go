package storetest

import (
	"cmp"
	"slices"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

func testState(t *testing.T, open opener) {
	const rid = "!room:t"

	t.Run("SetAndReplace", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		create := stateEv(rid, "$create", "m.room.create", "")
		alice := stateEv(rid, "$alice1", "m.room.member", "@alice:t", "$create")
		pos := write(t, s, upd(create), upd(alice))
		create.StreamPos, alice.StreamPos = pos[0], pos[1]

		got, err := s.StateEvent(ctx(t), rid, "m.room.create", "")
		mustOK(t, "StateEvent create", err)
		eqEvent(t, "StateEvent create", got, create)
		got, err = s.StateEvent(ctx(t), rid, "m.room.member", "@alice:t")
		mustOK(t, "StateEvent member", err)
		eqEvent(t, "StateEvent member", got, alice)
		_, err = s.StateEvent(ctx(t), rid, "m.room.member", "@bob:t")
		mustNotFound(t, "StateEvent of a missing state key", err)
		_, err = s.StateEvent(ctx(t), rid, "m.room.name", "")
		mustNotFound(t, "StateEvent of a missing type", err)
		_, err = s.StateEvent(ctx(t), "!other:t", "m.room.create", "")
		mustNotFound(t, "StateEvent in another room", err)

		alice2 := stateEv(rid, "$alice2", "m.room.member", "@alice:t", "$alice1")
		write(t, s, upd(alice2))
		got, err = s.StateEvent(ctx(t), rid, "m.room.member", "@alice:t")
		mustOK(t, "StateEvent member", err)
		eqEvent(t, "StateEvent after a replacement", got, alice2)
		eqStrings(t, "CurrentState", stateIDs(t, s, rid), []string{"$alice2", "$create"})

		st, err := s.CurrentState(ctx(t), rid)
		mustOK(t, "CurrentState", err)
		for _, e := range st {
			if e.EventID == "$create" {
				eqEvent(t, "CurrentState event", e, create)
			}
		}
	})

	t.Run("OnlyWhenAskedAndAccepted", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		write(t, s, upd(stateEv(rid, "$create", "m.room.create", "")))

		noSet := upd(stateEv(rid, "$name", "m.room.name", "", "$create"))
		noSet.SetState = false
		rejected := stateEv(rid, "$rejected", "m.room.create", "", "$create")
		rejected.Status, rejected.RejectReason = storage.StatusRejected, "bad auth"
		soft := stateEv(rid, "$soft", "m.room.topic", "", "$create")
		soft.Status, soft.RejectReason = storage.StatusSoftFailed, "not allowed now"
		plain := msg(rid, "$plain", "$create") // SetState on a non-state event is ignored
		pos := write(t, s, noSet, upd(rejected), upd(soft), upd(plain))
		mustIncrease(t, "positions", pos...)

		eqStrings(t, "CurrentState", stateIDs(t, s, rid), []string{"$create"})
		_, err := s.StateEvent(ctx(t), rid, "m.room.name", "")
		mustNotFound(t, "StateEvent of an event stored without SetState", err)
		_, err = s.StateEvent(ctx(t), rid, "m.room.topic", "")
		mustNotFound(t, "StateEvent of a soft-failed event", err)
		got, err := s.StateEvent(ctx(t), rid, "m.room.create", "")
		mustOK(t, "StateEvent create", err)
		if got.EventID != "$create" {
			t.Fatalf("rejected event replaced state: StateEvent = %s", got.EventID)
		}

		// Rejected and soft-failed events are stored as they are.
		rejected.StreamPos, soft.StreamPos = pos[1], pos[2]
		got, err = s.Event(ctx(t), "$rejected")
		mustOK(t, "Event $rejected", err)
		eqEvent(t, "Event $rejected", got, rejected)
		got, err = s.Event(ctx(t), "$soft")
		mustOK(t, "Event $soft", err)
		eqEvent(t, "Event $soft", got, soft)
	})

	t.Run("Rooms", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room("!a:t", 1))
		createRoom(t, s, room("!b:t", 2))
		write(t, s, upd(stateEv("!a:t", "$a", "m.room.create", "")), upd(stateEv("!b:t", "$b", "m.room.create", "")))
		eqStrings(t, "CurrentState a", stateIDs(t, s, "!a:t"), []string{"$a"})
		eqStrings(t, "CurrentState b", stateIDs(t, s, "!b:t"), []string{"$b"})
		eqStrings(t, "CurrentState of an unknown room", stateIDs(t, s, "!c:t"), nil)
	})
}

func testExtremities(t *testing.T, open opener) {
	const rid = "!room:t"

	t.Run("LinearForkMerge", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		eqStrings(t, "new room", extremities(t, s, rid), nil)
		write(t, s, upd(msg(rid, "$1")))
		eqStrings(t, "one event", extremities(t, s, rid), []string{"$1"})
		write(t, s, upd(msg(rid, "$2", "$1")), upd(msg(rid, "$3", "$2")))
		eqStrings(t, "linear", extremities(t, s, rid), []string{"$3"})
		write(t, s, upd(msg(rid, "$z", "$3")))
		write(t, s, upd(msg(rid, "$y", "$3")))
		eqStrings(t, "fork", extremities(t, s, rid), []string{"$y", "$z"})
		write(t, s, upd(msg(rid, "$m", "$y", "$z")))
		eqStrings(t, "merge", extremities(t, s, rid), []string{"$m"})
	})

	t.Run("ChildAlreadyStored", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		write(t, s, upd(msg(rid, "$1")))
		// $3 arrives before its prev_event $2.
		write(t, s, upd(msg(rid, "$3", "$2")))
		eqStrings(t, "child first", extremities(t, s, rid), []string{"$1", "$3"})
		write(t, s, upd(msg(rid, "$2", "$1")))
		eqStrings(t, "after the missing parent", extremities(t, s, rid), []string{"$3"})
	})

	t.Run("Outliers", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		write(t, s, upd(msg(rid, "$1")))
		out := upd(stateEv(rid, "$out", "m.room.member", "@x:t", "$1"))
		out.Extremity = false
		write(t, s, out)
		eqStrings(t, "after an outlier", extremities(t, s, rid), []string{"$1"})
		if _, err := s.Event(ctx(t), "$out"); err != nil {
			t.Fatalf("Event of an outlier: %v", err)
		}
	})

	t.Run("PerRoom", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room("!a:t", 1))
		createRoom(t, s, room("!b:t", 2))
		write(t, s, upd(msg("!a:t", "$a")), upd(msg("!b:t", "$b")))
		eqStrings(t, "room a", extremities(t, s, "!a:t"), []string{"$a"})
		eqStrings(t, "room b", extremities(t, s, "!b:t"), []string{"$b"})
		eqStrings(t, "unknown room", extremities(t, s, "!c:t"), nil)
	})
}

func testEvents(t *testing.T, open opener) {
	const rid = "!room:t"
	s := open(t)
	createRoom(t, s, room(rid, 1))
	a := stateEv(rid, "$a", "m.room.create", "")
	b := msg(rid, "$b", "$a")
	c := msg(rid, "$c", "$b")
	pos := write(t, s, upd(a), upd(b), upd(c))
	a.StreamPos, b.StreamPos, c.StreamPos = pos[0], pos[1], pos[2]

	t.Run("Event", func(t *testing.T) {
		got, err := s.Event(ctx(t), "$a")
		mustOK(t, "Event", err)
		eqEvent(t, "Event", got, a)
		got, err = s.Event(ctx(t), "$c")
		mustOK(t, "Event", err)
		eqEvent(t, "Event (no state key)", got, c)
		_, err = s.Event(ctx(t), "$missing")
		mustNotFound(t, "Event of a missing event", err)
	})

	t.Run("EventsOmitsMissing", func(t *testing.T) {
		got, err := s.Events(ctx(t), []string{"$c", "$missing", "$a"})
		mustOK(t, "Events", err)
		slices.SortFunc(got, func(x, y storage.Event) int { return cmp.Compare(x.EventID, y.EventID) })
		if len(got) != 2 {
			t.Fatalf("Events: got %q, want $a and $c", eventIDs(got))
		}
		eqEvent(t, "Events[0]", got[0], a)
		eqEvent(t, "Events[1]", got[1], c)

		got, err = s.Events(ctx(t), nil)
		mustOK(t, "Events(nil)", err)
		if len(got) != 0 {
			t.Fatalf("Events(nil): got %q", eventIDs(got))
		}
		got, err = s.Events(ctx(t), []string{"$x", "$y"})
		mustOK(t, "Events of missing IDs", err)
		if len(got) != 0 {
			t.Fatalf("Events of missing IDs: got %q", eventIDs(got))
		}
	})

	t.Run("CallerOwnsBytes", func(t *testing.T) {
		got, err := s.Event(ctx(t), "$b")
		mustOK(t, "Event", err)
		got.JSON[0] = '!'
		got.PrevEvents[0] = "$changed"
		again, err := s.Event(ctx(t), "$b")
		mustOK(t, "Event", err)
		eqEvent(t, "Event after changing a returned one", again, b)
	})
}

func testRoomEvents(t *testing.T, open opener) {
	const rid = "!room:t"
	s := open(t)
	createRoom(t, s, room(rid, 1))
	createRoom(t, s, room("!other:t", 2))
	rejected := msg(rid, "$rejected", "$1")
	rejected.Status, rejected.RejectReason = storage.StatusRejected, "bad"
	soft := msg(rid, "$soft", "$1")
	soft.Status, soft.RejectReason = storage.StatusSoftFailed, "banned"
	// Event IDs are chosen so that ID order is not stream order.
	pos := write(t, s,
		upd(msg(rid, "$1")),
		upd(msg("!other:t", "$o1")),
		upd(rejected),
		upd(msg(rid, "$0", "$1")),
		upd(soft),
		upd(msg(rid, "$9", "$0")),
		upd(msg("!other:t", "$o2", "$o1")),
		upd(msg(rid, "$5", "$9")),
	)
	wantAll := []string{"$1", "$0", "$9", "$5"}
	posOf := map[string]int64{"$1": pos[0], "$0": pos[3], "$9": pos[5], "$5": pos[7]}

	check := func(t *testing.T, after int64, limit int, want []string) {
		t.Helper()
		got, err := s.RoomEvents(ctx(t), rid, after, limit)
		mustOK(t, "RoomEvents", err)
		eqStrings(t, "RoomEvents", eventIDs(got), want)
		for _, e := range got {
			if e.StreamPos != posOf[e.EventID] {
				t.Fatalf("RoomEvents: %s has StreamPos %d, want %d", e.EventID, e.StreamPos, posOf[e.EventID])
			}
			if e.RoomID != rid || e.Status != storage.StatusAccepted {
				t.Fatalf("RoomEvents returned %s", describe(e))
			}
		}
	}
	t.Run("All", func(t *testing.T) { check(t, 0, 100, wantAll) })
	t.Run("Limit", func(t *testing.T) { check(t, 0, 2, wantAll[:2]) })
	t.Run("After", func(t *testing.T) { check(t, posOf["$0"], 100, []string{"$9", "$5"}) })
	t.Run("AfterSkippedPosition", func(t *testing.T) { check(t, pos[2], 1, []string{"$0"}) })
	t.Run("AfterAndLimit", func(t *testing.T) { check(t, posOf["$1"], 2, []string{"$0", "$9"}) })
	t.Run("AfterLast", func(t *testing.T) { check(t, posOf["$5"], 100, nil) })
	t.Run("UnknownRoom", func(t *testing.T) {
		got, err := s.RoomEvents(ctx(t), "!nope:t", 0, 100)
		mustOK(t, "RoomEvents", err)
		if len(got) != 0 {
			t.Fatalf("RoomEvents of an unknown room: %q", eventIDs(got))
		}
	})
}
