package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// pdu turns a stored event back into a PDU of the room's version.
func pdu(v gomatrixserverlib.IRoomVersion, ev storage.Event) (gomatrixserverlib.PDU, error) {
	p, err := v.NewEventFromTrustedJSONWithEventID(ev.EventID, ev.JSON, false)
	if err != nil {
		return nil, fmt.Errorf("rooms: decode stored event %s: %w", ev.EventID, err)
	}
	return p, nil
}

// currentState loads the room's current state as PDUs.
func (e *Engine) currentState(ctx context.Context, v gomatrixserverlib.IRoomVersion, roomID string) ([]gomatrixserverlib.PDU, error) {
	evs, err := e.cfg.Store.CurrentState(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("rooms: load current state: %w", err)
	}
	out := make([]gomatrixserverlib.PDU, 0, len(evs))
	for _, ev := range evs {
		p, err := pdu(v, ev)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// CurrentState returns the room's current state events.
func (e *Engine) CurrentState(ctx context.Context, roomID string) ([]gomatrixserverlib.PDU, error) {
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return nil, err
	}
	return e.currentState(ctx, v, roomID)
}

// authProvider builds an auth-event provider from state events. The create
// event is always looked up too: room version 12 leaves it out of
// auth_events, but the auth rules still need it.
func (e *Engine) authProvider(ctx context.Context, v gomatrixserverlib.IRoomVersion, roomID string, events []gomatrixserverlib.PDU) (*gomatrixserverlib.AuthEvents, error) {
	hasCreate := false
	for _, ev := range events {
		if ev.Type() == spec.MRoomCreate && ev.StateKeyEquals("") {
			hasCreate = true
		}
	}
	if !hasCreate {
		create, err := e.cfg.Store.StateEvent(ctx, roomID, spec.MRoomCreate, "")
		if err != nil {
			return nil, fmt.Errorf("%w: no create event for %s: %v", ErrMissingAuthEvents, roomID, err)
		}
		p, err := pdu(v, create)
		if err != nil {
			return nil, err
		}
		events = append(events, p)
	}
	provider, err := gomatrixserverlib.NewAuthEvents(events)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	return provider, nil
}

// joinedServers lists the servers with a joined member in a state, sorted.
func joinedServers(state []gomatrixserverlib.PDU) []string {
	set := map[string]struct{}{}
	for _, ev := range state {
		if ev.Type() != spec.MRoomMember || ev.StateKey() == nil {
			continue
		}
		if m, err := ev.Membership(); err != nil || m != spec.Join {
			continue
		}
		if s, err := ids.ServerOf(*ev.StateKey()); err == nil {
			set[string(s)] = struct{}{}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// strippedTypes are the state events sent with an invite so the invitee
// can show the room before joining.
var strippedTypes = map[string]bool{
	spec.MRoomCreate: true, spec.MRoomJoinRules: true, spec.MRoomName: true,
	spec.MRoomTopic: true, "m.room.avatar": true, "m.room.canonical_alias": true,
	"m.room.encryption": true,
}

// InviteState returns the invite_room_state for an invite into a room: the
// full create event (so the invitee can check the room ID and version),
// then stripped join rules, name, topic, avatar, alias and encryption, and
// the inviter's membership.
func (e *Engine) InviteState(ctx context.Context, roomID, inviter string) ([]json.RawMessage, error) {
	state, err := e.CurrentState(ctx, roomID)
	if err != nil {
		return nil, err
	}
	var out []json.RawMessage
	for _, ev := range state {
		if ev.Type() == spec.MRoomCreate && ev.StateKeyEquals("") {
			out = append([]json.RawMessage{ev.JSON()}, out...)
			continue
		}
		if strippedTypes[ev.Type()] || (ev.Type() == spec.MRoomMember && ev.StateKeyEquals(inviter)) {
			raw, err := json.Marshal(gomatrixserverlib.NewInviteStrippedState(ev))
			if err != nil {
				return nil, err
			}
			out = append(out, raw)
		}
	}
	return out, nil
}

// authChain returns the full auth chain of the given events (not including
// the events themselves unless they are in another's chain).
func (e *Engine) authChain(ctx context.Context, v gomatrixserverlib.IRoomVersion, events []gomatrixserverlib.PDU) ([]gomatrixserverlib.PDU, error) {
	seen := map[string]bool{}
	var queue []string
	for _, ev := range events {
		queue = append(queue, ev.AuthEventIDs()...)
	}
	var out []gomatrixserverlib.PDU
	for len(queue) > 0 {
		var batch []string
		for _, id := range queue {
			if !seen[id] {
				seen[id] = true
				batch = append(batch, id)
			}
		}
		queue = nil
		if len(batch) == 0 {
			break
		}
		stored, err := e.cfg.Store.Events(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("rooms: load auth chain: %w", err)
		}
		for _, ev := range stored {
			p, err := pdu(v, ev)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
			queue = append(queue, p.AuthEventIDs()...)
		}
	}
	// v12 rooms leave the create event out of auth_events; the chain still
	// has to carry it so the receiver can check everything.
	if v.DomainlessRoomIDs() && len(events) > 0 {
		createID := "$" + events[0].RoomID().String()[1:]
		if !seen[createID] {
			if ev, err := e.cfg.Store.Event(ctx, createID); err == nil {
				if p, err := pdu(v, ev); err == nil {
					out = append(out, p)
				}
			}
		}
	}
	return out, nil
}

// JoinedServers returns the servers with a joined member in a room now.
func (e *Engine) JoinedServers(ctx context.Context, roomID string) ([]string, error) {
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return nil, err
	}
	room, err := e.cfg.Store.Room(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("rooms: load room: %w", err)
	}
	return e.joinedServersOf(ctx, v, room.CurrentSnapshot)
}
