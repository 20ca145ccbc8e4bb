package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

// msg returns an accepted m.room.message event. Its JSON is unique to it.
func msg(roomID, eventID string, prev ...string) storage.Event {
	return storage.Event{
		EventID:        eventID,
		RoomID:         roomID,
		Type:           "m.room.message",
		Sender:         "@alice:test.example",
		Depth:          int64(len(eventID)),
		OriginServerTS: 1_700_000_000_000 + int64(len(eventID)),
		PrevEvents:     prev,
		JSON:           []byte(fmt.Sprintf(`{"event_id":%q,"room_id":%q}`, eventID, roomID)),
		Status:         storage.StatusAccepted,
	}
}

// stateEv returns an accepted state event of the given type and state key.
func stateEv(roomID, eventID, evType, stateKey string, prev ...string) storage.Event {
	e := msg(roomID, eventID, prev...)
	e.Type = evType
	e.StateKey = &stateKey
	return e
}

// room returns a room record.
func room(roomID string, created int64) storage.Room {
	return storage.Room{RoomID: roomID, Version: "10", CreatedTS: created}
}

// upd wraps an event as an update that sets state (when it can) and takes
// part in forward extremities.
func upd(e storage.Event, dests ...string) storage.EventUpdate {
	return storage.EventUpdate{Event: e, SetState: true, Extremity: true, Destinations: dests}
}

// createRoom stores a room record with no events.
func createRoom(t *testing.T, s storage.Store, r storage.Room) {
	t.Helper()
	pos, err := s.WriteRoom(ctx(t), storage.RoomWrite{Room: &r})
	mustOK(t, "WriteRoom (room only)", err)
	if len(pos) != 0 {
		t.Fatalf("WriteRoom with no events returned %d positions", len(pos))
	}
}

// write stores updates into an existing room and returns their positions.
func write(t *testing.T, s storage.Store, us ...storage.EventUpdate) []int64 {
	t.Helper()
	pos, err := s.WriteRoom(ctx(t), storage.RoomWrite{Events: us})
	mustOK(t, "WriteRoom", err)
	if len(pos) != len(us) {
		t.Fatalf("WriteRoom of %d events returned %d positions", len(us), len(pos))
	}
	return pos
}

// eqEvent fails t unless got matches want field by field. want.StreamPos
// is compared only when it is not zero.
func eqEvent(t *testing.T, what string, got, want storage.Event) {
	t.Helper()
	sk := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return fmt.Sprintf("%q", *p)
	}
	switch {
	case got.EventID != want.EventID, got.RoomID != want.RoomID, got.Type != want.Type,
		sk(got.StateKey) != sk(want.StateKey), got.Sender != want.Sender,
		got.Depth != want.Depth, got.OriginServerTS != want.OriginServerTS,
		!slices.Equal(got.PrevEvents, want.PrevEvents), !bytes.Equal(got.JSON, want.JSON),
		got.Status != want.Status, got.RejectReason != want.RejectReason,
		got.RedactedBy != want.RedactedBy,
		want.StreamPos != 0 && got.StreamPos != want.StreamPos:
		t.Fatalf("%s:\n got  %s\n want %s", what, describe(got), describe(want))
	}
}

func describe(e storage.Event) string {
	sk := "<nil>"
	if e.StateKey != nil {
		sk = fmt.Sprintf("%q", *e.StateKey)
	}
	return fmt.Sprintf("{id=%s room=%s type=%s state_key=%s sender=%s depth=%d ts=%d prev=%q json=%s status=%s reason=%q pos=%d redacted_by=%q}",
		e.EventID, e.RoomID, e.Type, sk, e.Sender, e.Depth, e.OriginServerTS, e.PrevEvents,
		e.JSON, e.Status, e.RejectReason, e.StreamPos, e.RedactedBy)
}

// eventIDs returns the IDs of events, in order.
func eventIDs(es []storage.Event) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.EventID)
	}
	return out
}

// stateIDs returns the IDs of a room's current state events, sorted.
func stateIDs(t *testing.T, s storage.Store, roomID string) []string {
	t.Helper()
	st, err := s.CurrentState(ctx(t), roomID)
	mustOK(t, "CurrentState", err)
	return sorted(eventIDs(st))
}

// extremities returns a room's forward extremities, checking they are
// sorted.
func extremities(t *testing.T, s storage.Store, roomID string) []string {
	t.Helper()
	ext, err := s.ForwardExtremities(ctx(t), roomID)
	mustOK(t, "ForwardExtremities", err)
	if !slices.IsSorted(ext) {
		t.Fatalf("ForwardExtremities not sorted: %q", ext)
	}
	return ext
}

// pending returns the destinations with anything queued, sorted.
func pending(t *testing.T, s storage.Store) []string {
	t.Helper()
	ds, err := s.PendingDestinations(ctx(t))
	mustOK(t, "PendingDestinations", err)
	return sorted(ds)
}

// mustIncrease fails t unless pos is strictly increasing and positive.
func mustIncrease(t *testing.T, what string, pos ...int64) {
	t.Helper()
	for i, p := range pos {
		if p <= 0 {
			t.Fatalf("%s: StreamPos %d is %d, want > 0", what, i, p)
		}
		if i > 0 && p <= pos[i-1] {
			t.Fatalf("%s: StreamPos not strictly increasing: %v", what, pos)
		}
	}
}
