package storetest

import (
	"context"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

// at returns e with its origin_server_ts set to ts.
func at(e storage.Event, ts int64) storage.Event {
	e.OriginServerTS = ts
	return e
}

// testEventsByTime checks EventsByTime: bounds are inclusive, ties are
// broken by stream order (ascending forward, descending backward), only
// the room's accepted events count, and limit caps the answer.
func testEventsByTime(t *testing.T, open opener) {
	const rid = "!room:t"
	s := open(t)
	createRoom(t, s, room(rid, 1))
	createRoom(t, s, room("!other:t", 2))
	withStatus := func(e storage.Event, st storage.EventStatus) storage.Event {
		e.Status, e.RejectReason = st, "not accepted"
		return e
	}
	// Written in this order: stream order is neither timestamp order nor
	// ID order, and the two events at 200 ($tieZ first) sort by ID the
	// other way round.
	pos := write(t, s,
		upd(at(msg(rid, "$early"), 100)),
		upd(at(msg("!other:t", "$o1"), 200)),
		upd(at(msg(rid, "$late", "$early"), 300)),
		upd(withStatus(at(msg(rid, "$rejected", "$late"), 200), storage.StatusRejected)),
		upd(at(msg(rid, "$tieZ", "$late"), 200)),
		upd(withStatus(at(msg(rid, "$soft", "$tieZ"), 250), storage.StatusSoftFailed)),
		upd(at(msg(rid, "$tieA", "$tieZ"), 200)),
		upd(at(msg("!other:t", "$o2", "$o1"), 150)),
		upd(at(msg(rid, "$mid", "$tieA"), 150)),
	)
	write(t, s, storage.EventUpdate{Event: withStatus(at(msg(rid, "$parked", "$mid", "$missing"), 200), storage.StatusParked)})
	posOf := map[string]int64{"$early": pos[0], "$late": pos[2], "$tieZ": pos[4], "$tieA": pos[6], "$mid": pos[8]}
	tsOf := map[string]int64{"$early": 100, "$late": 300, "$tieZ": 200, "$tieA": 200, "$mid": 150}

	cases := map[string]struct {
		room    string
		ts      int64
		forward bool
		limit   int
		want    []string
	}{
		"forward from the start":              {rid, 0, true, 100, []string{"$early", "$mid", "$tieZ", "$tieA", "$late"}},
		"forward from a timestamp held":       {rid, 200, true, 100, []string{"$tieZ", "$tieA", "$late"}},
		"forward from just after it":          {rid, 201, true, 100, []string{"$late"}},
		"forward from the last":               {rid, 300, true, 100, []string{"$late"}},
		"forward past the last":               {rid, 301, true, 100, nil},
		"forward with a limit":                {rid, 0, true, 2, []string{"$early", "$mid"}},
		"forward with a limit inside a tie":   {rid, 200, true, 1, []string{"$tieZ"}},
		"backward from the future":            {rid, 1 << 62, false, 100, []string{"$late", "$tieA", "$tieZ", "$mid", "$early"}},
		"backward from a timestamp held":      {rid, 200, false, 100, []string{"$tieA", "$tieZ", "$mid", "$early"}},
		"backward from just before it":        {rid, 199, false, 100, []string{"$mid", "$early"}},
		"backward from the first":             {rid, 100, false, 100, []string{"$early"}},
		"backward before the first":           {rid, 99, false, 100, nil},
		"backward with a limit":               {rid, 1 << 62, false, 2, []string{"$late", "$tieA"}},
		"backward with a limit inside a tie":  {rid, 200, false, 1, []string{"$tieA"}},
		"zero limit":                          {rid, 0, true, 0, nil},
		"negative limit":                      {rid, 0, false, -1, nil},
		"an unknown room":                     {"!nope:t", 0, true, 100, nil},
		"another room's events stay in it":    {"!other:t", 0, true, 100, []string{"$o2", "$o1"}},
		"another room's events stay in it, b": {"!other:t", 1 << 62, false, 100, []string{"$o1", "$o2"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := s.EventsByTime(ctx(t), c.room, c.ts, c.forward, c.limit)
			mustOK(t, "EventsByTime", err)
			eqStrings(t, "EventsByTime", eventIDs(got), c.want)
			for _, e := range got {
				if e.RoomID != c.room || e.Status != storage.StatusAccepted {
					t.Fatalf("EventsByTime returned %s", describe(e))
				}
				if c.room == rid && (e.StreamPos != posOf[e.EventID] || e.OriginServerTS != tsOf[e.EventID]) {
					t.Fatalf("EventsByTime: %s at %d, ts %d; want %d, ts %d",
						e.EventID, e.StreamPos, e.OriginServerTS, posOf[e.EventID], tsOf[e.EventID])
				}
			}
		})
	}
}

// CheckUpgradedToEventsByTime checks a store just upgraded from the schema
// before "events by time", holding the rows every backend's upgrade test
// writes: room !r:t with event $m ({"m":1}, origin_server_ts 100). The old
// event is found by time, and so is one written after the upgrade.
func CheckUpgradedToEventsByTime(t *testing.T, s storage.Store) {
	t.Helper()
	c := context.Background()
	if evs, err := s.EventsByTime(c, "!r:t", 100, false, 10); err != nil || len(evs) != 1 || evs[0].EventID != "$m" || string(evs[0].JSON) != `{"m":1}` {
		t.Fatalf("EventsByTime of an old event after the upgrade: %v, %v", eventIDs(evs), err)
	}
	if _, err := s.WriteRoom(c, storage.RoomWrite{Events: []storage.EventUpdate{{
		Event: storage.Event{EventID: "$n", RoomID: "!r:t", Type: "m.room.message", PrevEvents: []string{"$m"},
			OriginServerTS: 50, JSON: []byte(`{"n":1}`)},
	}}}); err != nil {
		t.Fatalf("WriteRoom after the upgrade: %v", err)
	}
	evs, err := s.EventsByTime(c, "!r:t", 0, true, 10)
	if err != nil {
		t.Fatalf("EventsByTime after the upgrade: %v", err)
	}
	if got := eventIDs(evs); len(got) != 2 || got[0] != "$n" || got[1] != "$m" {
		t.Fatalf("EventsByTime after the upgrade: %q, want [$n $m]", got)
	}
}
