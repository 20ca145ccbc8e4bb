package stateres

import (
	"fmt"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// partialState is the room state the iterative auth checks build: the
// events applied so far over a read-only base (the unconflicted state map
// in v2, nothing in v2.1).
type partialState struct {
	g    *graph
	base StateMap
	over map[StateKey]int32
}

// get returns the event at key k, or missing.
func (p *partialState) get(k StateKey) int32 {
	if x, ok := p.over[k]; ok {
		return x
	}
	if id, ok := p.base[k]; ok {
		return p.g.lookup(id)
	}
	return missing
}

// userIDForSender maps a sender to a user ID; the room versions resolved
// here have no pseudo-IDs, so a sender is a user ID.
func userIDForSender(_ spec.RoomID, senderID spec.SenderID) (*spec.UserID, error) {
	return spec.NewUserID(string(senderID), true)
}

// neededKeys returns (once per event) the state keys the auth rules read
// to authorise x, as gomatrixserverlib selects them.
func (r *resolver) neededKeys(x int32) []StateKey {
	if ks, ok := r.needed[x]; ok {
		return ks
	}
	var ks []StateKey
	func() {
		defer func() { _ = recover() }()
		for _, t := range gomatrixserverlib.StateNeededForAuth([]gomatrixserverlib.PDU{r.g.nodes[x].ev}).Tuples() {
			ks = append(ks, StateKey{t.EventType, t.StateKey})
		}
	}()
	if r.needed == nil {
		r.needed = map[int32][]StateKey{}
	}
	r.needed[x] = ks
	return ks
}

// iterativeAuthChecks applies the events, in order, to the partial state.
//
// Spec (v2 "Iterative auth checks"): "constructs a new room state by
// iterating through the event list and applying the state event to the
// room state if the state event is allowed by the authorisation rules. If
// the state event is not allowed by the authorisation rules, then the
// event is ignored. If a (event_type, state_key) key that is required for
// checking the authorisation rules is not present in the state, then the
// appropriate state event from the event's auth_events is used if the
// auth event is not rejected."
func (r *resolver) iterativeAuthChecks(events []int32, ps *partialState) error {
	g := &r.g
	for _, x := range events {
		n := g.at(x)
		if !n.state {
			continue // not state: nothing to apply
		}
		if err := r.sameRoom(x); err != nil {
			return err
		}
		provider, err := gomatrixserverlib.NewAuthEvents(nil)
		if err != nil {
			return fmt.Errorf("stateres: auth events: %w", err)
		}
		for _, a := range r.authEventsFor(x, ps) {
			if err := r.sameRoom(a); err != nil {
				return err
			}
			_ = provider.AddEvent(g.nodes[a].ev)
		}
		if allowed(n.ev, provider) {
			ps.over[n.key()] = x
		}
	}
	return nil
}

// authEventsFor returns the events the auth rules see for x, in the order
// they are added (a later event replaces an earlier one at the same key):
// the event's own auth events that were not rejected, then the partial
// state's events at every key the auth rules need.
func (r *resolver) authEventsFor(x int32, ps *partialState) []int32 {
	if r.hooks != nil && r.hooks.authEvents != nil {
		return r.hooks.authEvents(r, x, ps)
	}
	g := &r.g
	out := make([]int32, 0, 8)
	for _, a := range g.nodes[x].auth {
		if !r.rejected[a] && g.at(a).state {
			out = append(out, a)
		}
	}
	for _, k := range r.neededKeys(x) {
		if s := ps.get(k); s != missing && !r.rejected[s] {
			out = append(out, s)
		}
	}
	return out
}

// allowed runs gomatrixserverlib's authorisation rules. They can panic on
// malformed events (a create event with non-string additional_creators, a
// missing create event); that counts as not allowed.
func allowed(ev gomatrixserverlib.PDU, provider *gomatrixserverlib.AuthEvents) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return gomatrixserverlib.Allowed(ev, provider, userIDForSender) == nil
}

// sameRoom checks that x is in the room of the events seen so far.
func (r *resolver) sameRoom(x int32) error {
	if r.roomChecked[x] {
		return nil
	}
	room, ok := roomOf(r.g.nodes[x].ev)
	if !ok {
		return fmt.Errorf("%w: event %s has an invalid room ID", ErrMixedRooms, r.g.nodes[x].id)
	}
	if r.room == "" {
		r.room = room
	} else if room != r.room {
		return fmt.Errorf("%w: %s is in %s, not %s", ErrMixedRooms, r.g.nodes[x].id, room, r.room)
	}
	r.roomChecked[x] = true
	return nil
}

// roomOf returns an event's room ID; gomatrixserverlib panics on invalid ones.
func roomOf(ev gomatrixserverlib.PDU) (room string, ok bool) {
	defer func() {
		if recover() != nil {
			room, ok = "", false
		}
	}()
	return ev.RoomID().String(), true
}
