package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

// redactedJSON returns a stand-in for the redacted form of eventID; the
// store never reads it.
func redactedJSON(eventID, by string) []byte {
	return []byte(fmt.Sprintf(`{"event_id":%q,"unsigned":{"redacted_because":{"event_id":%q}}}`, eventID, by))
}

// redacted returns e as the store should return it once redacted by by.
func redacted(e storage.Event, by string) storage.Event {
	e.JSON, e.RedactedBy = redactedJSON(e.EventID, by), by
	return e
}

// redactOf returns the Redact entry that redacts eventID by by.
func redactOf(eventID, by string) storage.RedactedEvent {
	return storage.RedactedEvent{EventID: eventID, JSON: redactedJSON(eventID, by), RedactedBy: by}
}

// redactions returns the store's redactions of targets.
func redactions(t *testing.T, s storage.Store, targets ...string) []storage.Redaction {
	t.Helper()
	rs, err := s.RedactionsFor(ctx(t), targets)
	mustOK(t, fmt.Sprintf("RedactionsFor(%q)", targets), err)
	return rs
}

// eqRedactions fails t unless got and want are equal, in order.
func eqRedactions(t *testing.T, what string, got, want []storage.Redaction) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d redactions %+v, want %d %+v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: redaction %d:\n got  %+v\n want %+v", what, i, got[i], want[i])
		}
	}
}

func testRedactions(t *testing.T, open opener) {
	const rid = "!room:t"

	t.Run("RecordedInOrder", func(t *testing.T) {
		s := open(t)
		// The target need not be stored: a redaction may come first.
		r1 := storage.Redaction{RedactionID: "$z1", RoomID: rid, TargetID: "$t", Sender: "@a:t"}
		r2 := storage.Redaction{RedactionID: "$a2", RoomID: rid, TargetID: "$u", Sender: "@mod:t", ByPower: true, Applied: true}
		r3 := storage.Redaction{RedactionID: "$m3", RoomID: rid, TargetID: "$t", Sender: "@b:other"}
		_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Redactions: []storage.Redaction{r1, r2}})
		mustOK(t, "WriteRoom (redactions)", err)
		_, err = s.WriteRoom(ctx(t), storage.RoomWrite{Redactions: []storage.Redaction{r3}})
		mustOK(t, "WriteRoom (redactions)", err)

		for name, c := range map[string]struct {
			targets []string
			want    []storage.Redaction
		}{
			"one target":          {[]string{"$t"}, []storage.Redaction{r1, r3}},
			"two targets":         {[]string{"$u", "$t"}, []storage.Redaction{r1, r2, r3}},
			"targets given twice": {[]string{"$u", "$u"}, []storage.Redaction{r2}},
			"an unredacted event": {[]string{"$x"}, nil},
			"no targets":          {nil, nil},
		} {
			t.Run(name, func(t *testing.T) {
				eqRedactions(t, "RedactionsFor", redactions(t, s, c.targets...), c.want)
			})
		}
	})

	t.Run("AppliedOnlyTurnsTrue", func(t *testing.T) {
		s := open(t)
		r1 := storage.Redaction{RedactionID: "$r1", RoomID: rid, TargetID: "$t", Sender: "@a:t"}
		r2 := storage.Redaction{RedactionID: "$r2", RoomID: rid, TargetID: "$t", Sender: "@b:t"}
		_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Redactions: []storage.Redaction{r1, r2}})
		mustOK(t, "WriteRoom", err)

		// A second write of r1 changes Applied only, and keeps r1's place.
		again := r1
		again.Applied, again.Sender, again.ByPower, again.TargetID = true, "@changed:t", true, "$elsewhere"
		_, err = s.WriteRoom(ctx(t), storage.RoomWrite{Redactions: []storage.Redaction{again}})
		mustOK(t, "WriteRoom (applied)", err)
		r1.Applied = true
		eqRedactions(t, "RedactionsFor after Applied", redactions(t, s, "$t"), []storage.Redaction{r1, r2})
		eqRedactions(t, "RedactionsFor of the changed target", redactions(t, s, "$elsewhere"), nil)

		back := r1
		back.Applied = false
		_, err = s.WriteRoom(ctx(t), storage.RoomWrite{Redactions: []storage.Redaction{back}})
		mustOK(t, "WriteRoom (not applied)", err)
		eqRedactions(t, "RedactionsFor after a write with Applied false", redactions(t, s, "$t"), []storage.Redaction{r1, r2})
	})

	t.Run("Invalid", func(t *testing.T) {
		s := open(t)
		for name, r := range map[string]storage.Redaction{
			"no redaction ID": {TargetID: "$t"},
			"no target":       {RedactionID: "$r"},
		} {
			_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Redactions: []storage.Redaction{
				{RedactionID: "$ok", TargetID: "$t"}, r,
			}})
			if err == nil || errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("WriteRoom with a redaction with %s: got %v, want an error other than ErrNotFound", name, err)
			}
		}
		eqRedactions(t, "RedactionsFor after refused writes", redactions(t, s, "$t"), nil)
	})
}

func testRedact(t *testing.T, open opener) {
	const rid = "!room:t"

	t.Run("EveryReadPath", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		create := stateEv(rid, "$create", "m.room.create", "")
		name := stateEv(rid, "$name", "m.room.name", "", "$create")
		m := msg(rid, "$m", "$name")
		child := msg(rid, "$child", "$m")
		pos := write(t, s, upd(create), upd(name), upd(m), upd(child))
		create.StreamPos, name.StreamPos, m.StreamPos, child.StreamPos = pos[0], pos[1], pos[2], pos[3]

		_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Redact: []storage.RedactedEvent{
			redactOf("$name", "$red1"), redactOf("$m", "$red2"), redactOf("$child", "$red2"),
		}})
		mustOK(t, "WriteRoom (redact)", err)
		name, m, child = redacted(name, "$red1"), redacted(m, "$red2"), redacted(child, "$red2")
		checkReads(t, s, rid, []storage.Event{create, name, m, child})

		got, err := s.StateEvent(ctx(t), rid, "m.room.name", "")
		mustOK(t, "StateEvent", err)
		eqEvent(t, "StateEvent of a redacted state event", got, name)
		evs, err := s.ChildEvents(ctx(t), "$m")
		mustOK(t, "ChildEvents", err)
		if len(evs) != 1 {
			t.Fatalf("ChildEvents: got %q", eventIDs(evs))
		}
		eqEvent(t, "ChildEvents of a redacted child", evs[0], child)
		eqStrings(t, "CurrentState", stateIDs(t, s, rid), []string{"$create", "$name"})
		eqStrings(t, "ForwardExtremities", extremities(t, s, rid), []string{"$child"})
	})

	t.Run("Again", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		m := msg(rid, "$m")
		m.StreamPos = write(t, s, upd(m))[0]
		for _, by := range []string{"$red1", "$red1", "$red2"} {
			_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Redact: []storage.RedactedEvent{redactOf("$m", by)}})
			mustOK(t, "WriteRoom (redact by "+by+")", err)
			got, err := s.Event(ctx(t), "$m")
			mustOK(t, "Event", err)
			eqEvent(t, "Event redacted by "+by, got, redacted(m, by))
		}
	})

	t.Run("RemovesRelation", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		write(t, s, upd(msg(rid, "$target")))
		r1 := reaction(rid, "$r1", "$target", "👍", "$target")
		r2 := reaction(rid, "$r2", "$target", "👍", "$r1")
		e1 := edit(rid, "$e1", "$target", "$r2")
		e2 := edit(rid, "$e2", "$target", "$e1")
		pos := write(t, s, r1, r2, e1, e2)
		eqRelations(t, "Relations before", relations(t, s, "", "$target"), []storage.Relation{
			relationOf(r1, pos[0]), relationOf(r2, pos[1]), relationOf(e1, pos[2]), relationOf(e2, pos[3]),
		})

		_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Redact: []storage.RedactedEvent{
			redactOf("$r1", "$un-react"), redactOf("$e2", "$un-edit"),
		}})
		mustOK(t, "WriteRoom (redact)", err)
		eqRelations(t, "Relations after redacting a reaction and an edit", relations(t, s, "", "$target"),
			[]storage.Relation{relationOf(r2, pos[1]), relationOf(e1, pos[2])})
		eqRelations(t, "edits after", relations(t, s, "m.replace", "$target"), []storage.Relation{relationOf(e1, pos[2])})

		// Redacting the target leaves the relations to it: what they
		// aggregate into is for the reader to decide.
		_, err = s.WriteRoom(ctx(t), storage.RoomWrite{Redact: []storage.RedactedEvent{redactOf("$target", "$gone")}})
		mustOK(t, "WriteRoom (redact target)", err)
		eqRelations(t, "Relations of a redacted target", relations(t, s, "", "$target"),
			[]storage.Relation{relationOf(r2, pos[1]), relationOf(e1, pos[2])})
	})

	t.Run("MissingEventFailsTheWrite", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		write(t, s, upd(msg(rid, "$old")))
		red := storage.Redaction{RedactionID: "$red", RoomID: rid, TargetID: "$missing"}
		_, err := s.WriteRoom(ctx(t), storage.RoomWrite{
			Events:     []storage.EventUpdate{upd(msg(rid, "$new", "$old")), reaction(rid, "$react", "$old", "👍", "$new")},
			Redactions: []storage.Redaction{red},
			Redact:     []storage.RedactedEvent{redactOf("$old", "$red"), redactOf("$missing", "$red")},
		})
		mustNotFound(t, "WriteRoom redacting a missing event", err)
		for _, id := range []string{"$new", "$react"} {
			_, err = s.Event(ctx(t), id)
			mustNotFound(t, "Event "+id+" of a failed write", err)
		}
		got, err := s.Event(ctx(t), "$old")
		mustOK(t, "Event $old", err)
		if got.RedactedBy != "" || string(got.JSON) != string(msg(rid, "$old").JSON) {
			t.Fatalf("a failed write redacted $old: %s", describe(got))
		}
		eqRelations(t, "Relations after a failed write", relations(t, s, "", "$old"), nil)
		eqRedactions(t, "RedactionsFor after a failed write", redactions(t, s, "$missing"), nil)
		eqStrings(t, "ForwardExtremities after a failed write", extremities(t, s, rid), []string{"$old"})
	})

	t.Run("Invalid", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		m := msg(rid, "$m")
		m.StreamPos = write(t, s, upd(m))[0]
		for name, r := range map[string]storage.RedactedEvent{
			"no event ID":     {JSON: []byte(`{}`), RedactedBy: "$red"},
			"no redaction ID": {EventID: "$m", JSON: []byte(`{}`)},
		} {
			_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Redact: []storage.RedactedEvent{r}})
			if err == nil || errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("WriteRoom redacting with %s: got %v, want an error other than ErrNotFound", name, err)
			}
		}
		got, err := s.Event(ctx(t), "$m")
		mustOK(t, "Event", err)
		eqEvent(t, "Event after refused redactions", got, m)
	})

	t.Run("SameWrite", func(t *testing.T) {
		s := open(t)
		r := room(rid, 1)
		target := msg(rid, "$target")
		react := reaction(rid, "$react", "$target", "👍", "$target")
		redEv := msg(rid, "$red", "$react")
		redEv.Type = "m.room.redaction"
		red := storage.Redaction{RedactionID: "$red", RoomID: rid, TargetID: "$react", Sender: react.Event.Sender, Applied: true}
		pos, err := s.WriteRoom(ctx(t), storage.RoomWrite{
			Room:       &r,
			Events:     []storage.EventUpdate{upd(target), react, upd(redEv)},
			Redactions: []storage.Redaction{red},
			Redact:     []storage.RedactedEvent{redactOf("$react", "$red")},
		})
		mustOK(t, "WriteRoom", err)
		want := redacted(react.Event, "$red")
		want.StreamPos = pos[1]
		got, err := s.Event(ctx(t), "$react")
		mustOK(t, "Event", err)
		eqEvent(t, "Event redacted in the write that stored it", got, want)
		eqRelations(t, "Relations", relations(t, s, "", "$target"), nil)
		eqRedactions(t, "RedactionsFor", redactions(t, s, "$react"), []storage.Redaction{red})
	})

	t.Run("WrittenRedacted", func(t *testing.T) {
		s := open(t)
		createRoom(t, s, room(rid, 1))
		write(t, s, upd(msg(rid, "$target")))
		u := reaction(rid, "$react", "$target", "👍", "$target")
		u.Event = redacted(u.Event, "$red")
		u.Event.StreamPos = write(t, s, u)[0]
		got, err := s.Event(ctx(t), "$react")
		mustOK(t, "Event", err)
		eqEvent(t, "Event written redacted", got, u.Event)
		eqRelations(t, "Relations of an event written redacted", relations(t, s, "", "$target"), nil)
	})

	// A parked event or an outlier written again replaces its row; one
	// that was redacted meanwhile stays redacted, and stays out of the
	// relations.
	t.Run("SurvivesRewrite", func(t *testing.T) {
		for name, first := range map[string]func(u *storage.EventUpdate){
			"parked": func(u *storage.EventUpdate) {
				u.Event.Status, u.Event.RejectReason = storage.StatusParked, "missing prev"
			},
			"outlier": func(u *storage.EventUpdate) { u.Extremity = false },
		} {
			t.Run(name, func(t *testing.T) {
				s := open(t)
				createRoom(t, s, room(rid, 1))
				write(t, s, upd(msg(rid, "$target")))
				u := reaction(rid, "$react", "$target", "👍", "$target")
				first(&u)
				write(t, s, u)
				_, err := s.WriteRoom(ctx(t), storage.RoomWrite{Redact: []storage.RedactedEvent{redactOf("$react", "$red")}})
				mustOK(t, "WriteRoom (redact)", err)

				again := reaction(rid, "$react", "$target", "👍", "$target")
				again.Event.StateBefore, again.Event.StateAfter = 3, 3
				pos := write(t, s, again)
				want := redacted(again.Event, "$red")
				want.StreamPos = pos[0]
				got, err := s.Event(ctx(t), "$react")
				mustOK(t, "Event", err)
				eqEvent(t, "Event rewritten after its redaction", got, want)
				eqRelations(t, "Relations", relations(t, s, "", "$target"), nil)
			})
		}
	})
}

// checkReads fails t unless every read path returns want (the room's
// events, all accepted, in stream order).
func checkReads(t *testing.T, s storage.Store, roomID string, want []storage.Event) {
	t.Helper()
	ids := eventIDs(want)
	for _, w := range want {
		got, err := s.Event(ctx(t), w.EventID)
		mustOK(t, "Event "+w.EventID, err)
		eqEvent(t, "Event "+w.EventID, got, w)
	}
	evs, err := s.Events(ctx(t), ids)
	mustOK(t, "Events", err)
	byID := map[string]storage.Event{}
	for _, e := range evs {
		byID[e.EventID] = e
	}
	for _, w := range want {
		eqEvent(t, "Events "+w.EventID, byID[w.EventID], w)
	}
	evs, err = s.RoomEvents(ctx(t), roomID, 0, 100)
	mustOK(t, "RoomEvents", err)
	eqStrings(t, "RoomEvents", eventIDs(evs), ids)
	for i, w := range want {
		eqEvent(t, "RoomEvents "+w.EventID, evs[i], w)
	}
	st, err := s.CurrentState(ctx(t), roomID)
	mustOK(t, "CurrentState", err)
	for _, e := range st {
		for _, w := range want {
			if w.EventID == e.EventID {
				eqEvent(t, "CurrentState "+w.EventID, e, w)
			}
		}
	}
}
