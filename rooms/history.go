package rooms

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// ErrNotInRoom is returned when a server asks about a room none of its
// users has ever been part of.
var ErrNotInRoom = errors.New("rooms: server has no member in the room")

// ErrUnknownEvent is returned for an event this server does not have, or
// that is not in the room asked about.
var ErrUnknownEvent = errors.New("rooms: unknown event")

// Limits on history requests.
const (
	MaxBackfill      = 100
	MaxMissingEvents = 100
)

// CheckServerInRoom returns ErrNotInRoom unless some user of server has a
// membership (any: join, invite, leave, ban) in the room's current state.
func (e *Engine) CheckServerInRoom(ctx context.Context, roomID string, server spec.ServerName) error {
	if server == e.cfg.Signer.ServerName {
		return nil
	}
	state, err := e.cfg.Store.CurrentState(ctx, roomID)
	if err != nil {
		return fmt.Errorf("rooms: load state: %w", err)
	}
	if len(state) == 0 {
		return fmt.Errorf("%w: %s", ErrUnknownRoom, roomID)
	}
	for _, s := range state {
		if s.Type == spec.MRoomMember && s.StateKey != nil {
			if srv, err := ids.ServerOf(*s.StateKey); err == nil && srv == server {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %s in %s", ErrNotInRoom, server, roomID)
}

// storedEvent loads one event of a room with its version.
func (e *Engine) storedEvent(ctx context.Context, roomID, eventID string) (gomatrixserverlib.IRoomVersion, storage.Event, error) {
	ev, err := e.cfg.Store.Event(ctx, eventID)
	if errors.Is(err, storage.ErrNotFound) || err == nil && roomID != "" && ev.RoomID != roomID {
		return nil, storage.Event{}, fmt.Errorf("%w: %s", ErrUnknownEvent, eventID)
	}
	if err != nil {
		return nil, storage.Event{}, fmt.Errorf("rooms: load event: %w", err)
	}
	v, err := e.roomVersion(ctx, ev.RoomID)
	return v, ev, err
}

// EventFor returns an event for server to read: redacted when the room's
// history visibility at the event does not let that server see it.
// Rejected and parked events are not served.
func (e *Engine) EventFor(ctx context.Context, server spec.ServerName, eventID string) (gomatrixserverlib.PDU, error) {
	v, ev, err := e.storedEvent(ctx, "", eventID)
	if err != nil {
		return nil, err
	}
	if ev.Status == storage.StatusRejected || ev.Status == storage.StatusParked {
		return nil, fmt.Errorf("%w: %s", ErrUnknownEvent, eventID)
	}
	if err := e.CheckServerInRoom(ctx, ev.RoomID, server); err != nil {
		return nil, err
	}
	out, err := e.visibleTo(ctx, v, server, []storage.Event{ev})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// visibleTo turns stored events into PDUs as server may see them: whole
// when the history visibility at the event allows it, redacted otherwise.
// https://spec.matrix.org/v1.16/client-server-api/#server-behaviour-5
func (e *Engine) visibleTo(ctx context.Context, v gomatrixserverlib.IRoomVersion, server spec.ServerName, evs []storage.Event) ([]gomatrixserverlib.PDU, error) {
	out := make([]gomatrixserverlib.PDU, 0, len(evs))
	for _, s := range evs {
		p, err := pdu(v, s)
		if err != nil {
			return nil, err
		}
		ok, err := e.serverMaySee(ctx, v, server, s)
		if err != nil {
			return nil, err
		}
		if !ok {
			redacted, err := v.RedactEventJSON(s.JSON)
			if err != nil {
				return nil, fmt.Errorf("rooms: redact %s: %w", s.EventID, err)
			}
			if p, err = v.NewEventFromTrustedJSONWithEventID(s.EventID, redacted, true); err != nil {
				return nil, err
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// serverMaySee applies history visibility for a server: world_readable and
// shared history is visible; invited history to a server with a user
// invited or joined at the event; joined history to a server with a user
// joined at the event. An event whose state is unknown (an outlier) is only
// shown whole when it is itself state.
func (e *Engine) serverMaySee(ctx context.Context, v gomatrixserverlib.IRoomVersion, server spec.ServerName, ev storage.Event) (bool, error) {
	if server == e.cfg.Signer.ServerName {
		return true, nil
	}
	if ev.StateBefore == 0 {
		return ev.StateKey != nil, nil
	}
	set, err := e.snapshot(ctx, ev.StateBefore)
	if err != nil {
		return false, err
	}
	visibility := "shared"
	if id, ok := set[skey{Type: spec.MRoomHistoryVisibility, StateKey: ""}]; ok {
		if hv, err := e.cfg.Store.Event(ctx, id); err == nil {
			if v := gjsonString(hv.JSON, "content.history_visibility"); v != "" {
				visibility = v
			}
		}
	}
	if visibility == "world_readable" || visibility == "shared" {
		return true, nil
	}
	var keys []skey
	for k := range set {
		if k.Type == spec.MRoomMember {
			if s, err := ids.ServerOf(k.StateKey); err == nil && s == server {
				keys = append(keys, k)
			}
		}
	}
	members, err := e.statePDUs(ctx, v, set, keys)
	if err != nil {
		return false, err
	}
	for _, m := range members {
		membership, _ := m.Membership()
		if membership == spec.Join || membership == spec.Invite && visibility == "invited" {
			return true, nil
		}
	}
	return false, nil
}

// StateAt returns the state before an event (what /state and /state_ids
// serve) and the full auth chain of that state.
func (e *Engine) StateAt(ctx context.Context, server spec.ServerName, roomID, eventID string) ([]gomatrixserverlib.PDU, []gomatrixserverlib.PDU, error) {
	if err := e.CheckServerInRoom(ctx, roomID, server); err != nil {
		return nil, nil, err
	}
	v, ev, err := e.storedEvent(ctx, roomID, eventID)
	if err != nil {
		return nil, nil, err
	}
	if ev.StateBefore == 0 {
		return nil, nil, fmt.Errorf("%w: the state at %s is not known here", ErrUnknownEvent, eventID)
	}
	set, err := e.snapshot(ctx, ev.StateBefore)
	if err != nil {
		return nil, nil, err
	}
	state, err := e.allStatePDUs(ctx, v, set)
	if err != nil {
		return nil, nil, err
	}
	chain, err := e.authChain(ctx, v, state)
	if err != nil {
		return nil, nil, err
	}
	return state, chain, nil
}

// AuthChainOf returns the full auth chain of an event (/event_auth).
func (e *Engine) AuthChainOf(ctx context.Context, server spec.ServerName, roomID, eventID string) ([]gomatrixserverlib.PDU, error) {
	if err := e.CheckServerInRoom(ctx, roomID, server); err != nil {
		return nil, err
	}
	v, ev, err := e.storedEvent(ctx, roomID, eventID)
	if err != nil {
		return nil, err
	}
	p, err := pdu(v, ev)
	if err != nil {
		return nil, err
	}
	return e.authChain(ctx, v, []gomatrixserverlib.PDU{p})
}

// Backfill walks the room's DAG backwards from the given events (which are
// included) through prev_events, newest (deepest) first, and returns at
// most limit events as server may see them.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1backfillroomid
func (e *Engine) Backfill(ctx context.Context, server spec.ServerName, roomID string, from []string, limit int) ([]gomatrixserverlib.PDU, error) {
	if err := e.CheckServerInRoom(ctx, roomID, server); err != nil {
		return nil, err
	}
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return nil, err
	}
	limit = min(max(limit, 1), MaxBackfill)
	evs, err := e.walkBack(ctx, roomID, from, true, nil, 0, limit)
	if err != nil {
		return nil, err
	}
	return e.visibleTo(ctx, v, server, evs)
}

// MissingEvents answers get_missing_events: the events before latest (not
// included) back to earliest (not included), no shallower than minDepth, at
// most limit, oldest first.
// https://spec.matrix.org/v1.16/server-server-api/#post_matrixfederationv1get_missing_eventsroomid
func (e *Engine) MissingEvents(ctx context.Context, server spec.ServerName, roomID string, earliest, latest []string, limit int, minDepth int64) ([]gomatrixserverlib.PDU, error) {
	if err := e.CheckServerInRoom(ctx, roomID, server); err != nil {
		return nil, err
	}
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return nil, err
	}
	limit = min(max(limit, 1), MaxMissingEvents)
	stop := map[string]bool{}
	for _, id := range earliest {
		stop[id] = true
	}
	evs, err := e.walkBack(ctx, roomID, latest, false, stop, minDepth, limit)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Depth < evs[j].Depth })
	return e.visibleTo(ctx, v, server, evs)
}

// walkBack does a breadth-first walk of prev_events from the given events,
// deepest first, skipping stop events and events shallower than minDepth,
// and returns at most limit accepted or soft-failed events of the room.
func (e *Engine) walkBack(ctx context.Context, roomID string, from []string, includeFrom bool, stop map[string]bool, minDepth int64, limit int) ([]storage.Event, error) {
	seen := map[string]bool{}
	var frontier []storage.Event
	start, err := e.cfg.Store.Events(ctx, uniq(from))
	if err != nil {
		return nil, err
	}
	var out []storage.Event
	for _, s := range start {
		if s.RoomID != roomID {
			continue
		}
		seen[s.EventID] = true
		frontier = append(frontier, s)
	}
	if includeFrom {
		for _, s := range frontier {
			if servable(s) && len(out) < limit {
				out = append(out, s)
			}
		}
	}
	for len(frontier) > 0 && len(out) < limit {
		var next []string
		for _, s := range frontier {
			for _, p := range s.PrevEvents {
				if !seen[p] && !stop[p] {
					seen[p] = true
					next = append(next, p)
				}
			}
		}
		if len(next) == 0 {
			break
		}
		evs, err := e.cfg.Store.Events(ctx, next)
		if err != nil {
			return nil, err
		}
		sort.Slice(evs, func(i, j int) bool {
			if evs[i].Depth != evs[j].Depth {
				return evs[i].Depth > evs[j].Depth
			}
			return evs[i].EventID < evs[j].EventID
		})
		frontier = frontier[:0]
		for _, s := range evs {
			if s.RoomID != roomID || s.Depth < minDepth {
				continue
			}
			frontier = append(frontier, s)
			if servable(s) && len(out) < limit {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// servable: events other servers may fetch from us.
func servable(s storage.Event) bool {
	return s.Status == storage.StatusAccepted || s.Status == storage.StatusSoftFailed
}
