package rooms

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Limits on an event's references (as Synapse enforces): more is refused
// before anything is fetched.
const (
	MaxPrevEvents = 20
	MaxAuthEvents = 10
)

// placed is an event whose prev events are all known, with its state and
// the verdict of the checks.
type placed struct {
	ev        gomatrixserverlib.PDU
	status    storage.EventStatus
	reason    error
	before    int64
	beforeSet stateSet
	after     int64
	afterSet  stateSet
}

// stateBefore computes the state before an event from the states after
// its prev events (resolving when they disagree) and stores it as a
// snapshot. Every prev must be stored with a snapshot.
func (e *Engine) stateBefore(ctx context.Context, v gomatrixserverlib.IRoomVersion, roomID string, prevs []storage.Event) (int64, stateSet, error) {
	var (
		ids  []int64
		sets []stateSet
	)
	for _, p := range prevs {
		if p.StateAfter == 0 {
			return 0, nil, fmt.Errorf("rooms: prev event %s has no state", p.EventID)
		}
		if slices.Contains(ids, p.StateAfter) {
			continue
		}
		s, err := e.snapshot(ctx, p.StateAfter)
		if err != nil {
			return 0, nil, err
		}
		ids = append(ids, p.StateAfter)
		sets = append(sets, s)
	}
	if len(ids) == 0 {
		return 0, nil, fmt.Errorf("%w: no prev events", ErrBadEvent)
	}
	if len(ids) == 1 {
		return ids[0], sets[0], nil
	}
	resolved, err := e.resolve(ctx, v, sets)
	if err != nil {
		return 0, nil, err
	}
	id, err := e.saveSnapshot(ctx, roomID, ids[0], sets[0], resolved)
	return id, resolved, err
}

// place runs the spec's checks on a signature-checked event whose prev
// events are stored: auth against its auth events and against the state
// before it (failing either rejects it), then against the current state
// (failing that soft-fails it).
// https://spec.matrix.org/v1.16/server-server-api/#checks-performed-on-receipt-of-a-pdu
func (e *Engine) place(ctx context.Context, v gomatrixserverlib.IRoomVersion, room storage.Room, ev gomatrixserverlib.PDU, prevs []storage.Event) (*placed, error) {
	before, beforeSet, err := e.stateBefore(ctx, v, room.RoomID, prevs)
	if err != nil {
		return nil, err
	}
	return e.placeWith(ctx, v, room, ev, before, beforeSet)
}

// placeWith is place with the state before the event already known.
func (e *Engine) placeWith(ctx context.Context, v gomatrixserverlib.IRoomVersion, room storage.Room, ev gomatrixserverlib.PDU, before int64, beforeSet stateSet) (*placed, error) {
	var err error
	p := &placed{ev: ev, status: storage.StatusAccepted, before: before, beforeSet: beforeSet, after: before, afterSet: beforeSet}
	authEvents, err := e.loadAuthEvents(ctx, v, ev)
	if err != nil {
		if !errors.Is(err, ErrNotAllowed) {
			return nil, err
		}
		p.status, p.reason = storage.StatusRejected, err
		return p, nil
	}
	if reason := e.authCheck(ctx, v, ev, authEvents); reason != nil {
		p.status, p.reason = storage.StatusRejected, fmt.Errorf("auth events: %w", reason)
		return p, nil
	}
	stateAuth, err := e.authState(ctx, v, beforeSet, ev)
	if err != nil {
		return nil, err
	}
	if reason := e.authCheck(ctx, v, ev, stateAuth); reason != nil {
		p.status, p.reason = storage.StatusRejected, fmt.Errorf("state before the event: %w", reason)
		return p, nil
	}
	if ev.StateKey() != nil {
		p.afterSet = beforeSet.with(ev)
		if p.after, err = e.saveSnapshot(ctx, room.RoomID, before, beforeSet, p.afterSet); err != nil {
			return nil, err
		}
	}
	current, err := e.snapshot(ctx, room.CurrentSnapshot)
	if err != nil {
		return nil, err
	}
	curAuth, err := e.authState(ctx, v, current, ev)
	if err != nil {
		return nil, err
	}
	if reason := e.authCheck(ctx, v, ev, curAuth); reason != nil {
		p.status, p.reason = storage.StatusSoftFailed, fmt.Errorf("current state: %w", reason)
	}
	return p, nil
}

// commit stores a placed event. An accepted one becomes a forward
// extremity and moves the current state: to the state after it when it
// builds on every extremity, else to the resolution of the two. The PDU is
// queued for dests in the same write.
func (e *Engine) commit(ctx context.Context, v gomatrixserverlib.IRoomVersion, room storage.Room, p *placed, dests []string, local bool) error {
	return e.commitAs(ctx, v, room, p, dests, local, false)
}

// commitAs is commit; a historical event (backfilled history) is stored
// with its state but leaves the extremities and the current state alone.
func (e *Engine) commitAs(ctx context.Context, v gomatrixserverlib.IRoomVersion, room storage.Room, p *placed, dests []string, local, historical bool) error {
	reason := ""
	if p.reason != nil {
		reason = p.reason.Error()
	}
	u := update(p.ev, p.status, reason, p.status == storage.StatusAccepted && !historical, dests)
	u.SetState = false
	u.Event.StateBefore, u.Event.StateAfter = p.before, p.after
	w := storage.RoomWrite{Events: []storage.EventUpdate{u}}
	if p.status == storage.StatusAccepted && !historical {
		current, err := e.snapshot(ctx, room.CurrentSnapshot)
		if err != nil {
			return err
		}
		exts, err := e.cfg.Store.ForwardExtremities(ctx, room.RoomID)
		if err != nil {
			return fmt.Errorf("rooms: load extremities: %w", err)
		}
		next, nextID := p.afterSet, p.after
		if !coversAll(p.ev.PrevEventIDs(), exts) {
			if next, err = e.resolve(ctx, v, []stateSet{current, p.afterSet}); err != nil {
				return err
			}
			if nextID, err = e.saveSnapshot(ctx, room.RoomID, room.CurrentSnapshot, current, next); err != nil {
				return err
			}
		}
		w.StateDelta = diff(current, next)
		w.CurrentSnapshot = nextID
	}
	var redacted *storage.Event
	if p.status == storage.StatusAccepted && p.ev.Type() == spec.MRoomRedaction {
		var err error
		if redacted, err = e.addRedaction(ctx, v, &w, p.ev, p.beforeSet); err != nil {
			return err
		}
	}
	pos, err := e.write(ctx, v, &w)
	if err != nil {
		return fmt.Errorf("rooms: persist %s: %w", p.ev.EventID(), err)
	}
	if len(dests) > 0 {
		e.cfg.OnQueued(dests)
	}
	if p.status == storage.StatusAccepted {
		a := Accepted{Event: asStored(v, p.ev, w.Events[0]), StreamPos: pos[0], Local: local, Historical: historical, Redacted: redacted}
		if sk := p.ev.StateKey(); sk != nil {
			if old, err := e.statePDUs(ctx, v, p.beforeSet, []skey{{Type: p.ev.Type(), StateKey: *sk}}); err == nil && len(old) == 1 {
				a.Replaced = old[0]
			}
		}
		e.cfg.OnAccepted(a)
	}
	return nil
}

// coversAll reports whether prevs include every extremity.
func coversAll(prevs, exts []string) bool {
	for _, x := range exts {
		if !slices.Contains(prevs, x) {
			return false
		}
	}
	return true
}

// checkRefs refuses events with more references than any honest server
// makes, before anything is fetched for them.
func checkRefs(ev gomatrixserverlib.PDU) error {
	if n := len(ev.PrevEventIDs()); n > MaxPrevEvents || n == 0 && ev.Type() != spec.MRoomCreate {
		return fmt.Errorf("%w: %d prev_events (1 to %d allowed)", ErrBadEvent, n, MaxPrevEvents)
	}
	if n := len(ev.AuthEventIDs()); n > MaxAuthEvents {
		return fmt.Errorf("%w: %d auth_events (at most %d)", ErrBadEvent, n, MaxAuthEvents)
	}
	return nil
}

// CheckAgainstKnownState runs the auth rules for an event against the
// state before it, when this server holds every prev event of it with its
// state (for an invite into a room we have been in, say); otherwise there
// is nothing to check against and it returns nil. A failure matches
// ErrNotAllowed.
func (e *Engine) CheckAgainstKnownState(ctx context.Context, ev gomatrixserverlib.PDU) error {
	roomID := ev.RoomID().String()
	v, err := e.roomVersion(ctx, roomID)
	if errors.Is(err, ErrUnknownRoom) {
		return nil
	}
	if err != nil {
		return err
	}
	known, missing, err := e.prevState(ctx, ev)
	if err != nil || len(missing) > 0 || len(known) == 0 {
		return err
	}
	_, beforeSet, err := e.stateBefore(ctx, v, roomID, known)
	if err != nil {
		return err
	}
	authState, err := e.authState(ctx, v, beforeSet, ev)
	if err != nil {
		return err
	}
	if reason := e.authCheck(ctx, v, ev, authState); reason != nil {
		return fmt.Errorf("%w: on the state before it: %v", ErrNotAllowed, reason)
	}
	return nil
}
