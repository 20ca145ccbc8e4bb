package stateres

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/matrix-org/gomatrixserverlib"
)

// StateKey is an event (type, state_key) pair: the key of a room state map.
type StateKey struct{ Type, StateKey string }

// StateMap maps a state key to the ID of the event that holds it.
type StateMap map[StateKey]string

// Events gives the resolver the events it needs: the events named in the
// state sets and, transitively, their auth events.
//
// Contract: Events returns the events among ids that are known, in any
// order, each at most once; unknown IDs are left out and are not an error.
// An error means the source itself failed (a database error, a cancelled
// context) and aborts the resolution. The resolver asks in batches, one
// call per level of the auth graph it walks: first from the conflicted
// events, then (only when the auth difference needs them) from all the
// unconflicted events, then (room versions 10 and 11) from the
// unconflicted events the auth checks read. It never asks twice for the
// same ID within one Resolve call.
type Events interface {
	Events(ctx context.Context, ids []string) ([]gomatrixserverlib.PDU, error)
}

// Rejections may be implemented by an Events value that knows which events
// were rejected on receipt. The spec excludes rejected auth events from the
// iterative auth checks ("the appropriate state event from the event's
// auth_events is used if the auth event is not rejected"). An Events
// value that does not implement it means no event was rejected.
//
// Contract: Rejected returns the IDs among ids that were rejected; IDs it
// does not know are not rejected. It is called at most once per Resolve.
type Rejections interface {
	Rejected(ctx context.Context, ids []string) ([]string, error)
}

// ErrUnsupportedRoomVersion is returned for room versions this package
// does not resolve (anything but "10", "11" and "12").
var ErrUnsupportedRoomVersion = errors.New("stateres: unsupported room version")

// ErrMixedRooms is returned when the events taking part in a resolution
// belong to more than one room.
var ErrMixedRooms = errors.New("stateres: events from more than one room")

// Resolve resolves the given state sets with the algorithm of the room
// version: state resolution v2 for "10" and "11", v2.1 for "12".
//
// Zero sets give an empty map and one set is returned as is (a copy).
// Sets that agree on every key are merged without fetching any event.
// Events that Events cannot find are left out of the resolution: an
// unknown conflicted event cannot win, an unknown auth event is not used.
// The sets are not modified; the result is a new map.
func Resolve(ctx context.Context, roomVersion string, sets []StateMap, events Events) (StateMap, error) {
	return resolveWith(ctx, roomVersion, sets, events, nil)
}

// resolveWith is Resolve with test hooks (nil in production).
func resolveWith(ctx context.Context, roomVersion string, sets []StateMap, events Events, hooks *testHooks) (StateMap, error) {
	algo, err := algorithmFor(roomVersion)
	if err != nil {
		return nil, err
	}
	switch len(sets) {
	case 0:
		return StateMap{}, nil
	case 1:
		out := maps.Clone(sets[0])
		if out == nil {
			out = StateMap{}
		}
		return out, nil
	}
	if events == nil {
		return nil, errors.New("stateres: no event source")
	}
	r := &resolver{algo: algo, version: roomVersion, src: events, hooks: hooks}
	return r.resolve(ctx, sets)
}

// algorithm is a state resolution algorithm.
type algorithm int

const (
	algoV2  algorithm = iota + 1 // state resolution v2: room versions 2-11
	algoV21                      // state resolution v2.1 (MSC4297): room version 12
)

// algorithmFor picks the algorithm of a supported room version.
func algorithmFor(roomVersion string) (algorithm, error) {
	switch roomVersion {
	case "10", "11":
		return algoV2, nil
	case "12":
		return algoV21, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrUnsupportedRoomVersion, roomVersion)
}

// MapEvents is an in-memory Events source keyed by event ID, for tests,
// benchmarks and callers that already hold every event.
type MapEvents map[string]gomatrixserverlib.PDU

var _ Events = MapEvents(nil)

// NewMapEvents indexes events by their event ID.
func NewMapEvents(events ...gomatrixserverlib.PDU) MapEvents {
	m := make(MapEvents, len(events))
	for _, ev := range events {
		if ev != nil {
			m[ev.EventID()] = ev
		}
	}
	return m
}

// Events implements Events: the known events among ids.
func (m MapEvents) Events(_ context.Context, ids []string) ([]gomatrixserverlib.PDU, error) {
	out := make([]gomatrixserverlib.PDU, 0, len(ids))
	for _, id := range ids {
		if ev, ok := m[id]; ok && ev != nil {
			out = append(out, ev)
		}
	}
	return out, nil
}
