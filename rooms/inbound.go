package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// MaxPDUSize is the largest PDU accepted, in bytes of JSON (spec: 65536).
const MaxPDUSize = 65536

// Parse decodes an untrusted PDU of a given room version: the fields the
// PDU format requires with their JSON types, canonical JSON where the
// version requires it, size and field limits, and the content hash (an
// event whose hash does not match is redacted, as the spec says).
func Parse(version string, raw []byte) (gomatrixserverlib.PDU, error) {
	v, err := Version(version)
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxPDUSize {
		return nil, fmt.Errorf("%w: PDU is %d bytes, over %d", ErrBadEvent, len(raw), MaxPDUSize)
	}
	if err := checkFormat(v, raw); err != nil {
		return nil, err
	}
	ev, err := v.NewEventFromUntrustedJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	return ev, nil
}

// RoomIDOf reads the room_id of an untrusted PDU without decoding it.
func RoomIDOf(raw []byte) (string, error) {
	r := gjson.GetBytes(raw, "room_id")
	if r.Type != gjson.String || r.Str == "" {
		return "", fmt.Errorf("%w: no room_id", ErrBadEvent)
	}
	return r.Str, nil
}

// VerifySignatures checks the signatures an event needs (the sender's
// server, and for invites also the invitee's server).
func (e *Engine) VerifySignatures(ctx context.Context, ev gomatrixserverlib.PDU) error {
	if err := gomatrixserverlib.VerifyEventSignatures(ctx, ev, e.cfg.Verifier, UserIDForSender); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadSignature, ev.EventID(), err)
	}
	return nil
}

// VerifySenderSignature checks only the sender's server signature: used
// for an invite this server is about to co-sign.
func (e *Engine) VerifySenderSignature(ctx context.Context, ev gomatrixserverlib.PDU) error {
	server, err := ids.ServerOf(string(ev.SenderID()))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	v, err := Version(string(ev.Version()))
	if err != nil {
		return err
	}
	redacted, err := v.RedactEventJSON(ev.JSON())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	res, err := e.cfg.Verifier.VerifyJSONs(ctx, []gomatrixserverlib.VerifyJSONRequest{{
		ServerName: server, AtTS: ev.OriginServerTS(), Message: redacted,
		ValidityCheckingFunc: v.SignatureValidityCheck,
	}})
	if err != nil {
		return fmt.Errorf("rooms: verify: %w", err)
	}
	if res[0].Error != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadSignature, ev.EventID(), res[0].Error)
	}
	return nil
}

// ProcessInbound checks and persists one PDU received over federation
// from origin. It returns the event ID and nil when the event was stored as
// accepted or soft-failed (or was already known), and an error saying why
// otherwise. An event with a bad signature is never stored; one that fails
// the auth rules is stored as rejected so it is not fetched again; one whose
// prev events cannot be fetched is parked until one of them arrives.
func (e *Engine) ProcessInbound(ctx context.Context, origin spec.ServerName, raw json.RawMessage) (string, error) {
	roomID, err := RoomIDOf(raw)
	if err != nil {
		return "", err
	}
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return "", err
	}
	ev, err := Parse(string(v.Version()), raw)
	if err != nil {
		// Name the refused PDU when its ID can be computed, so the
		// sender's /send answer says why.
		id, _ := EventIDOf(string(v.Version()), raw)
		return id, err
	}
	if ev.RoomID().String() != roomID {
		return ev.EventID(), fmt.Errorf("%w: room ID mismatch", ErrBadEvent)
	}
	if err := e.CheckServerACL(ctx, roomID, origin); err != nil {
		return ev.EventID(), err
	}
	if known, err := e.cfg.Store.Event(ctx, ev.EventID()); err == nil && known.Status != storage.StatusParked {
		return ev.EventID(), nil
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return ev.EventID(), fmt.Errorf("rooms: lookup: %w", err)
	}
	if err := checkRefs(ev); err != nil {
		return ev.EventID(), err
	}
	if err := e.VerifySignatures(ctx, ev); err != nil {
		return ev.EventID(), err
	}
	unlock := e.lock(roomID)
	defer unlock()
	return ev.EventID(), e.ingest(ctx, v, ev, origin, true)
}

// ingest takes in a signature-checked event: it closes a gap before it
// (get_missing_events, when fillGaps, then /state_ids), fetches missing auth
// events, runs the checks, stores it, and re-checks parked events that were
// waiting for it. The room lock must be held.
func (e *Engine) ingest(ctx context.Context, v gomatrixserverlib.IRoomVersion, ev gomatrixserverlib.PDU, origin spec.ServerName, fillGaps bool) error {
	roomID := ev.RoomID().String()
	if err := checkRefs(ev); err != nil {
		return err
	}
	// Another transaction (or gap filling) may have taken it in while we
	// waited for the room lock.
	if s, err := e.cfg.Store.Event(ctx, ev.EventID()); err == nil && s.Status != storage.StatusParked && s.StateBefore != 0 {
		return nil
	}
	known, missing, err := e.prevState(ctx, ev)
	if err != nil {
		return err
	}
	if len(missing) > 0 && e.cfg.Remote != nil && fillGaps {
		e.fillGap(ctx, v, roomID, ev, origin)
		if known, missing, err = e.prevState(ctx, ev); err != nil {
			return err
		}
	}
	if e.cfg.Remote != nil {
		if err := e.fetchMissingAuth(ctx, v, roomID, ev, origin); err != nil {
			return err
		}
	}
	room, err := e.cfg.Store.Room(ctx, roomID)
	if err != nil {
		return fmt.Errorf("rooms: load room: %w", err)
	}
	var p *placed
	switch {
	case len(missing) == 0:
		p, err = e.place(ctx, v, room, ev, known)
	case e.cfg.Remote != nil:
		e.log.Info("prev events missing; taking the state from the origin", "event_id", ev.EventID(), "missing", len(missing), "origin", origin)
		before, beforeSet, serr := e.stateFromRemote(ctx, v, roomID, ev, origin, known)
		if serr != nil {
			e.log.Info("cannot get the state before an event; parking it", "event_id", ev.EventID(), "err", serr)
			return e.park(ctx, ev, missing)
		}
		p, err = e.placeWith(ctx, v, room, ev, before, beforeSet)
	default:
		return e.park(ctx, ev, missing)
	}
	if err != nil {
		return err
	}
	if p.status == storage.StatusSoftFailed {
		e.log.Info("soft-failed event", "event_id", ev.EventID(), "reason", p.reason)
	}
	if err := e.commit(ctx, v, room, p, nil, false); err != nil {
		return err
	}
	e.recheckParked(ctx, v, ev.EventID(), origin)
	if p.status == storage.StatusRejected {
		return fmt.Errorf("%w: %v", ErrNotAllowed, p.reason)
	}
	return nil
}

// fetchMissingAuth fetches the auth events of ev we do not have.
func (e *Engine) fetchMissingAuth(ctx context.Context, v gomatrixserverlib.IRoomVersion, roomID string, ev gomatrixserverlib.PDU, origin spec.ServerName) error {
	ids := uniq(ev.AuthEventIDs())
	stored, err := e.cfg.Store.Events(ctx, ids)
	if err != nil {
		return err
	}
	if len(stored) == len(ids) {
		return nil
	}
	return e.fetchOutliers(ctx, v, roomID, origin, ids)
}

// park stores an event whose prev events are missing, to be judged again
// when one of them arrives.
func (e *Engine) park(ctx context.Context, ev gomatrixserverlib.PDU, missing []string) error {
	reason := fmt.Errorf("%w: %d missing, e.g. %s", ErrParked, len(missing), missing[0])
	if _, err := e.cfg.Store.WriteRoom(ctx, storage.RoomWrite{Events: []storage.EventUpdate{
		update(ev, storage.StatusParked, reason.Error(), false, nil),
	}}); err != nil { // a parked event is written again, redactions and all, once judged
		return fmt.Errorf("rooms: park %s: %w", ev.EventID(), err)
	}
	return reason
}

// recheckParked judges again the parked events that listed eventID as a
// prev event, now that it is stored.
func (e *Engine) recheckParked(ctx context.Context, v gomatrixserverlib.IRoomVersion, eventID string, origin spec.ServerName) {
	kids, err := e.cfg.Store.ChildEvents(ctx, eventID)
	if err != nil {
		return
	}
	for _, k := range kids {
		if k.Status != storage.StatusParked {
			continue
		}
		ev, err := pdu(v, k)
		if err != nil {
			continue
		}
		if _, missing, err := e.prevState(ctx, ev); err != nil || len(missing) > 0 {
			continue
		}
		if err := e.ingest(ctx, v, ev, origin, false); err != nil {
			e.log.Info("parked event still not accepted", "event_id", k.EventID, "err", err)
		}
	}
}

// loadAuthEvents fetches the event's auth events from the store. A missing
// or rejected auth event is an error (fetching them is the gap filler's job).
func (e *Engine) loadAuthEvents(ctx context.Context, v gomatrixserverlib.IRoomVersion, ev gomatrixserverlib.PDU) ([]gomatrixserverlib.PDU, error) {
	ids := uniq(ev.AuthEventIDs())
	stored, err := e.judgedEvents(ctx, v, ids)
	if err != nil {
		return nil, fmt.Errorf("rooms: load auth events: %w", err)
	}
	if len(stored) != len(ids) {
		return nil, fmt.Errorf("%w: %d of %d auth events of %s unknown", ErrMissingAuthEvents, len(ids)-len(stored), len(ids), ev.EventID())
	}
	out := make([]gomatrixserverlib.PDU, 0, len(stored))
	for _, s := range stored {
		if s.status == storage.StatusRejected {
			return nil, fmt.Errorf("%w: auth event %s was rejected", ErrNotAllowed, s.pdu.EventID())
		}
		if s.status == storage.StatusParked {
			return nil, fmt.Errorf("%w: auth event %s is not judged yet", ErrMissingAuthEvents, s.pdu.EventID())
		}
		if s.roomID != ev.RoomID().String() {
			return nil, fmt.Errorf("%w: auth event %s is in another room", ErrNotAllowed, s.pdu.EventID())
		}
		out = append(out, s.pdu)
	}
	return out, nil
}

// authCheck returns why ev is not allowed against the given events, or nil.
func (e *Engine) authCheck(ctx context.Context, v gomatrixserverlib.IRoomVersion, ev gomatrixserverlib.PDU, events []gomatrixserverlib.PDU) error {
	if ev.Type() == spec.MRoomCreate {
		provider, err := gomatrixserverlib.NewAuthEvents(nil)
		if err != nil {
			return err
		}
		return gomatrixserverlib.Allowed(ev, provider, UserIDForSender)
	}
	provider, err := e.authProvider(ctx, v, ev.RoomID().String(), events)
	if err != nil {
		return err
	}
	return gomatrixserverlib.Allowed(ev, provider, UserIDForSender)
}

func uniq(ids []string) []string {
	seen := make(map[string]struct{}, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}
