package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

// related returns an accepted event of type evType relating to target, as
// an update that indexes the relation (with EventID and RoomID left for
// the store to fill).
func related(roomID, eventID, evType, relType, key, target string, prev ...string) storage.EventUpdate {
	e := msg(roomID, eventID, prev...)
	e.Type = evType
	e.Sender = "@bob:test.example"
	u := upd(e)
	u.Relation = &storage.Relation{
		TargetID: target, RelType: relType, Key: key,
		Sender: e.Sender, Type: evType, OriginServerTS: e.OriginServerTS,
	}
	return u
}

// reaction returns an m.annotation of target with key.
func reaction(roomID, eventID, target, key string, prev ...string) storage.EventUpdate {
	return related(roomID, eventID, "m.reaction", "m.annotation", key, target, prev...)
}

// edit returns an m.replace of target.
func edit(roomID, eventID, target string, prev ...string) storage.EventUpdate {
	return related(roomID, eventID, "m.room.message", "m.replace", "", target, prev...)
}

// relationOf returns the relation the store should return for u, written
// at pos.
func relationOf(u storage.EventUpdate, pos int64) storage.Relation {
	r := *u.Relation
	r.EventID, r.RoomID, r.StreamPos = u.Event.EventID, u.Event.RoomID, pos
	return r
}

// relations returns the store's relations of targets.
func relations(t *testing.T, s storage.Store, relType string, targets ...string) []storage.Relation {
	t.Helper()
	rs, err := s.Relations(ctx(t), targets, relType)
	mustOK(t, fmt.Sprintf("Relations(%q, %q)", targets, relType), err)
	return rs
}

// eqRelations fails t unless got and want are equal, in order.
func eqRelations(t *testing.T, what string, got, want []storage.Relation) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d relations %+v, want %d %+v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: relation %d:\n got  %+v\n want %+v", what, i, got[i], want[i])
		}
	}
}

func testRelations(t *testing.T, open opener) {
	const rid = "!room:t"

	t.Run("OnlyAcceptedEvents", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		write(t, s, upd(msg(rid, "$target")))
		ok := reaction(rid, "$ok", "$target", "👍", "$target")
		rejected := reaction(rid, "$rejected", "$target", "👎", "$target")
		rejected.Event.Status, rejected.Event.RejectReason = storage.StatusRejected, "bad auth"
		soft := reaction(rid, "$soft", "$target", "🎉", "$target")
		soft.Event.Status, soft.Event.RejectReason = storage.StatusSoftFailed, "not now"
		parked := reaction(rid, "$parked", "$target", "🙂", "$missing")
		parked.Event.Status, parked.Event.RejectReason = storage.StatusParked, "missing prev"
		pos := write(t, s, ok, rejected, soft, parked)

		eqRelations(t, "Relations", relations(t, s, "", "$target"), []storage.Relation{relationOf(ok, pos[0])})
		eqRelations(t, "Relations of a reaction", relations(t, s, "", "$ok"), nil)
		eqRelations(t, "Relations of an unknown event", relations(t, s, "", "$nothing"), nil)
		eqRelations(t, "Relations of no targets", relations(t, s, ""), nil)
	})

	t.Run("SkippedDuplicate", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		write(t, s, upd(msg(rid, "$a")), upd(msg(rid, "$b", "$a")))
		first := reaction(rid, "$r", "$a", "👍", "$b")
		pos := write(t, s, first)
		want := []storage.Relation{relationOf(first, pos[0])}

		again := write(t, s, first)
		if again[0] != pos[0] {
			t.Fatalf("StreamPos of a skipped duplicate: %d, want %d", again[0], pos[0])
		}
		eqRelations(t, "Relations after the same write twice", relations(t, s, "", "$a"), want)

		// The event is stored already: its update, relation included, is
		// skipped, even when the relation differs.
		other := reaction(rid, "$r", "$b", "👎", "$b")
		write(t, s, other)
		eqRelations(t, "Relations of the first target after a skipped write", relations(t, s, "", "$a"), want)
		eqRelations(t, "Relations of the skipped write's target", relations(t, s, "", "$b"), nil)

		// A relation is never added to an event stored without one.
		plain := upd(msg(rid, "$plain", "$b"))
		write(t, s, plain)
		late := reaction(rid, "$plain", "$b", "🎉", "$b")
		write(t, s, late)
		eqRelations(t, "Relations added by a skipped write", relations(t, s, "", "$b"), nil)
	})

	t.Run("ParkedThenAccepted", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		write(t, s, upd(msg(rid, "$target")))
		parked := edit(rid, "$edit", "$target", "$gap")
		parked.Event.Status, parked.Event.RejectReason = storage.StatusParked, "missing prev"
		write(t, s, parked)
		eqRelations(t, "Relations of a parked edit", relations(t, s, "", "$target"), nil)

		accepted := edit(rid, "$edit", "$target", "$gap")
		pos := write(t, s, accepted)
		eqRelations(t, "Relations once the edit is accepted", relations(t, s, "", "$target"),
			[]storage.Relation{relationOf(accepted, pos[0])})
	})

	t.Run("OutlierPlaced", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		write(t, s, upd(msg(rid, "$target")))
		outlier := reaction(rid, "$r", "$target", "👍", "$target")
		outlier.Extremity = false
		p1 := write(t, s, outlier)
		eqRelations(t, "Relations of an accepted outlier", relations(t, s, "", "$target"),
			[]storage.Relation{relationOf(outlier, p1[0])})

		placed := reaction(rid, "$r", "$target", "👍", "$target")
		placed.Event.StateBefore, placed.Event.StateAfter = 7, 7
		p2 := write(t, s, placed)
		if p2[0] <= p1[0] {
			t.Fatalf("placed outlier kept StreamPos %d (was %d)", p2[0], p1[0])
		}
		eqRelations(t, "Relations of the placed outlier", relations(t, s, "", "$target"),
			[]storage.Relation{relationOf(placed, p2[0])})

		// An outlier placed as soft-failed stops aggregating.
		soft := reaction(rid, "$r2", "$target", "🎉", "$target")
		soft.Extremity = false
		write(t, s, soft)
		soft.Event.Status, soft.Event.StateBefore, soft.Event.StateAfter = storage.StatusSoftFailed, 8, 8
		write(t, s, soft)
		eqRelations(t, "Relations after an outlier is placed soft-failed", relations(t, s, "", "$target"),
			[]storage.Relation{relationOf(placed, p2[0])})
	})

	t.Run("FilterAndOrder", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		createRoom(t, s, room("!other:t", 2))
		write(t, s, upd(msg(rid, "$a")), upd(msg(rid, "$b", "$a")), upd(msg(rid, "$c", "$b")))
		ups := []storage.EventUpdate{
			reaction(rid, "$1", "$a", "👍", "$c"),
			edit(rid, "$2", "$b", "$1"),
			related(rid, "$3", "m.room.message", "m.thread", "", "$a", "$2"),
			reaction(rid, "$4", "$b", "👍", "$3"),
			reaction(rid, "$5", "$c", "👍", "$4"),
			reaction(rid, "$6", "$a", "🎉", "$5"),
			related(rid, "$7", "org.example.custom", "org.example.rel", "k", "$a", "$6"),
		}
		pos := write(t, s, ups...)
		// A relation in another room to the same target is returned too:
		// Relations is by target, in any room.
		elsewhere := reaction("!other:t", "$8", "$a", "👀")
		pos = append(pos, write(t, s, elsewhere)...)
		ups = append(ups, elsewhere)
		rel := func(i int) storage.Relation { return relationOf(ups[i], pos[i]) }

		for name, c := range map[string]struct {
			relType string
			targets []string
			want    []storage.Relation
		}{
			"every type of one target":   {"", []string{"$a"}, []storage.Relation{rel(0), rel(2), rel(5), rel(6), rel(7)}},
			"annotations of two targets": {"m.annotation", []string{"$b", "$a"}, []storage.Relation{rel(0), rel(3), rel(5), rel(7)}},
			"edits":                      {"m.replace", []string{"$a", "$b", "$c"}, []storage.Relation{rel(1)}},
			"threads":                    {"m.thread", []string{"$a"}, []storage.Relation{rel(2)}},
			"a custom type":              {"org.example.rel", []string{"$a"}, []storage.Relation{rel(6)}},
			"a type nobody used":         {"m.reference", []string{"$a", "$b", "$c"}, nil},
			"targets given twice":        {"", []string{"$c", "$c", "$b"}, []storage.Relation{rel(1), rel(3), rel(4)}},
			"an unknown target":          {"", []string{"$zzz"}, nil},
		} {
			t.Run(name, func(t *testing.T) {
				eqRelations(t, "Relations", relations(t, s, c.relType, c.targets...), c.want)
			})
		}
	})

	t.Run("ManyTargets", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		// More targets than one query may bind in some backends: the
		// answer is still one list in stream order.
		const n = 1200
		var ups []storage.EventUpdate
		var targets []string
		for i := range n {
			target := fmt.Sprintf("$t%04d", n-1-i)
			targets = append(targets, target)
			ups = append(ups, reaction(rid, fmt.Sprintf("$r%04d", i), target, "👍"))
		}
		pos := write(t, s, ups...)
		got := relations(t, s, "m.annotation", targets...)
		if len(got) != n {
			t.Fatalf("Relations of %d targets: got %d", n, len(got))
		}
		for i, r := range got {
			if r.StreamPos != pos[i] || r.EventID != ups[i].Event.EventID {
				t.Fatalf("relation %d: got %s at %d, want %s at %d", i, r.EventID, r.StreamPos, ups[i].Event.EventID, pos[i])
			}
		}
	})

	t.Run("InvalidRelation", func(t *testing.T) {
		for name, mod := range map[string]func(r *storage.Relation){
			"of another event": func(r *storage.Relation) { r.EventID = "$someone-else" },
			"in another room":  func(r *storage.Relation) { r.RoomID = "!other:t" },
			"without a target": func(r *storage.Relation) { r.TargetID = "" },
			"without rel_type": func(r *storage.Relation) { r.RelType = "" },
		} {
			t.Run(name, func(t *testing.T) {
				s := open(t)
				r := room(rid, 1)
				bad := reaction(rid, "$bad", "$target", "👍", "$target")
				mod(bad.Relation)
				_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Room: &r, Events: []storage.EventUpdate{upd(msg(rid, "$target")), bad}})
				if err == nil || errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("WriteRoom with a relation %s: got %v, want an error other than ErrNotFound", name, err)
				}
				_, err = s.Room(ctx(t), rid)
				mustNotFound(t, "Room after a refused write", err)
				_, err = s.Event(ctx(t), "$target")
				mustNotFound(t, "Event after a refused write", err)
			})
		}
	})
}
