package rooms_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/embedmatrix/homeserver/storage/sqlite"
)

// The asking server in these tests; the engine signs for another.
const asker = "them.test"

// timeline is how a test lays out a room: for each event, whether
// asker may see it and its origin_server_ts. Stored events with no state
// before them are what serverMaySee judges here: a remote server may see
// the state events among them and not the messages.
type timeline []struct {
	visible bool
	ts      int64
	count   int
}

// closestRoom stores a room on sqlite with bob of asker joined (at ts 1,
// visible) and then the events of tl in order, and returns the engine
// and the IDs of the visible events of tl, in order.
func closestRoom(t *testing.T, tl timeline) (*rooms.Engine, []string) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const roomID = "!r:us.test"
	bob := "@bob:" + asker
	w := storage.RoomWrite{
		Room: &storage.Room{RoomID: roomID, Version: "10", CreatedTS: 1},
		Events: []storage.EventUpdate{{Event: storage.Event{EventID: "$member", RoomID: roomID,
			Type: "m.room.member", StateKey: &bob, Sender: bob, OriginServerTS: 1, JSON: []byte(`{}`)}, SetState: true}},
	}
	var visible []string
	for i, span := range tl {
		for j := range span.count {
			id := fmt.Sprintf("$%d.%d", i, j)
			ev := storage.Event{EventID: id, RoomID: roomID, Type: "m.room.message", Sender: "@alice:us.test",
				OriginServerTS: span.ts + int64(j), JSON: []byte(`{}`)}
			if span.visible {
				key := id
				ev.Type, ev.StateKey = "m.room.topic.test", &key
				visible = append(visible, id)
			}
			w.Events = append(w.Events, storage.EventUpdate{Event: ev})
		}
	}
	if _, err := st.WriteRoom(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	return rooms.New(rooms.Config{Signer: rooms.Signer{ServerName: "us.test"}, Store: st}), visible
}

// TestClosestEventBeyondOnePage: the answer is the nearest event the
// asking server may see even when more than a page of events it may not
// see lie between it and ts, both directions, with distinct and with
// shared timestamps; past the bound on the walk it gives up.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1timestamp_to_eventroomid
func TestClosestEventBeyondOnePage(t *testing.T) {
	const hidden = 250 // more than two pages of 100
	cases := map[string]struct {
		timeline timeline
		ts       int64
		forward  bool
		want     int // index into the visible events; -1 for ErrUnknownEvent
		wantTS   int64
	}{
		"backward near the present, hidden events after": {
			timeline{{true, 100, 3}, {false, 1000, hidden}}, 1 << 40, false, 2, 102},
		"forward from the start, hidden events before": {
			timeline{{false, 100, hidden}, {true, 5000, 3}}, 2, true, 0, 5000},
		"forward inside the hidden events": {
			timeline{{false, 100, hidden}, {true, 5000, 3}}, 200, true, 0, 5000},
		"forward, nothing visible after ts": {
			timeline{{true, 100, 1}, {false, 1000, hidden}}, 101, true, -1, 0},
		"backward past the bound gives up": {
			timeline{{true, 100, 1}, {false, 1000, 10_050}}, 1 << 40, false, -1, 0},
		"forward just inside the bound": {
			timeline{{false, 100, 9_990}, {true, 20_000, 1}}, 2, true, 0, 20_000},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e, visible := closestRoom(t, c.timeline)
			id, ts, err := e.ClosestEvent(t.Context(), asker, "!r:us.test", c.ts, c.forward)
			if c.want < 0 {
				if !errors.Is(err, rooms.ErrUnknownEvent) {
					t.Fatalf("got %s at %d, %v; want ErrUnknownEvent", id, ts, err)
				}
				return
			}
			if err != nil || id != visible[c.want] || ts != c.wantTS {
				t.Fatalf("got %s at %d, %v; want %s at %d", id, ts, err, visible[c.want], c.wantTS)
			}
		})
	}
}

// TestClosestEventTies: many events (more than a page) at one timestamp,
// origin_server_ts being the sender's word, do not stall the walk: the
// visible event among them is found from either side.
func TestClosestEventTies(t *testing.T) {
	cases := map[string]struct {
		visibleFirst bool // the visible event is stored before the ties, else after
		forward      bool
	}{
		"forward, the visible event after 250 ties":   {false, true},
		"backward, the visible event before 250 ties": {true, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e, visible := tiedRoom(t, c.visibleFirst)
			id, ts, err := e.ClosestEvent(t.Context(), asker, "!r:us.test", 700, c.forward)
			if err != nil || id != visible || ts != 700 {
				t.Fatalf("got %s at %d, %v; want %s at 700", id, ts, err, visible)
			}
		})
	}
}

// tiedRoom stores, after bob's join, 250 hidden messages and one visible
// state event all at ts 700, the visible one first or last in stream
// order, and returns the engine and the visible event's ID.
func tiedRoom(t *testing.T, visibleFirst bool) (*rooms.Engine, string) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const roomID = "!r:us.test"
	bob := "@bob:" + asker
	key := ""
	member := storage.EventUpdate{Event: storage.Event{EventID: "$member", RoomID: roomID,
		Type: "m.room.member", StateKey: &bob, Sender: bob, OriginServerTS: 1, JSON: []byte(`{}`)}, SetState: true}
	topic := storage.EventUpdate{Event: storage.Event{EventID: "$topic", RoomID: roomID,
		Type: "m.room.topic", StateKey: &key, Sender: "@alice:us.test", OriginServerTS: 700, JSON: []byte(`{}`)}}
	var ties []storage.EventUpdate
	for i := range 250 {
		ties = append(ties, storage.EventUpdate{Event: storage.Event{EventID: fmt.Sprintf("$tie%d", i), RoomID: roomID,
			Type: "m.room.message", Sender: "@alice:us.test", OriginServerTS: 700, JSON: []byte(`{}`)}})
	}
	evs := []storage.EventUpdate{member}
	if visibleFirst {
		evs = append(append(evs, topic), ties...)
	} else {
		evs = append(append(evs, ties...), topic)
	}
	if _, err := st.WriteRoom(t.Context(), storage.RoomWrite{
		Room:   &storage.Room{RoomID: roomID, Version: "10", CreatedTS: 1},
		Events: evs,
	}); err != nil {
		t.Fatal(err)
	}
	return rooms.New(rooms.Config{Signer: rooms.Signer{ServerName: "us.test"}, Store: st}), "$topic"
}
