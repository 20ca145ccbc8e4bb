package rooms

import (
	"context"
	"errors"
	"fmt"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/powerlevels"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/sjson"
)

// Redactions, as the server-server API says: "servers should only apply
// redactions to events where the sender's domain matches the domain of the
// redacted event's sender, or the sender has the appropriate power level".
// https://spec.matrix.org/v1.16/client-server-api/#redactions
//
// An accepted m.room.redaction is recorded with whether its sender held the
// room's redact level in the state before it. It is applied at once when its
// target is stored, or when the target arrives later (over /send, backfill,
// gap filling or a join's state): the stored event is replaced by its
// redacted form for the room version, with unsigned.redacted_because, and
// that form is what every reader and every other server gets from then on.
// The redacted form keeps the hashes and signatures: the signatures cover
// the redacted form, and a server that finds the content hash no longer
// matches redacts its copy too, as the spec requires.

// RedactsOf returns the ID of the event a redaction redacts: the content's
// "redacts" from room version 11 on, the top-level key before.
// https://spec.matrix.org/v1.16/rooms/v11/#moving-the-redacts-key
func RedactsOf(ev gomatrixserverlib.PDU) string {
	if !redactsInContent(ev.Version()) {
		return ev.Redacts()
	}
	r, _ := content.ParseRedaction(ev.Content())
	return r.Redacts
}

// redactsInContent reports whether the room version keeps a redaction's
// target in its content (version 11 and later).
func redactsInContent(v gomatrixserverlib.RoomVersion) bool {
	switch v {
	case gomatrixserverlib.RoomVersionV1, gomatrixserverlib.RoomVersionV2, gomatrixserverlib.RoomVersionV3,
		gomatrixserverlib.RoomVersionV4, gomatrixserverlib.RoomVersionV5, gomatrixserverlib.RoomVersionV6,
		gomatrixserverlib.RoomVersionV7, gomatrixserverlib.RoomVersionV8, gomatrixserverlib.RoomVersionV9,
		gomatrixserverlib.RoomVersionV10:
		return false
	}
	return true
}

// relationOf reads an event's m.relates_to for the relations index: nil
// when there is none or it names no event (a bare reply is no relation).
func relationOf(ev gomatrixserverlib.PDU) *storage.Relation {
	if ev.StateKey() != nil || ev.Type() == spec.MRoomRedaction {
		return nil
	}
	rel := content.ParseRelatesTo(ev.Content())
	if rel == nil || rel.RelType == "" || rel.EventID == ev.EventID() || !isEventID(rel.EventID) {
		return nil // an event cannot relate to itself
	}
	return &storage.Relation{
		EventID: ev.EventID(), RoomID: ev.RoomID().String(), TargetID: rel.EventID, RelType: rel.RelType, Key: rel.Key,
		Sender: string(ev.SenderID()), Type: ev.Type(), OriginServerTS: int64(ev.OriginServerTS()),
	}
}

func isEventID(s string) bool { return len(s) > 1 && s[0] == '$' && len(s) <= 255 }

// redactPower reports whether sender holds the redact level in a state.
func (e *Engine) redactPower(ctx context.Context, v gomatrixserverlib.IRoomVersion, set stateSet, sender string) (bool, error) {
	pdus, err := e.statePDUs(ctx, v, set, []skey{{Type: spec.MRoomCreate}, {Type: spec.MRoomPowerLevels}})
	if err != nil {
		return false, err
	}
	room := powerlevels.Room{Version: string(v.Version())}
	var pl []byte
	for _, p := range pdus {
		switch p.Type() {
		case spec.MRoomCreate:
			c, _ := content.ParseCreate(p.Content())
			room.Creators = append([]string{string(p.SenderID())}, c.AdditionalCreators...)
		case spec.MRoomPowerLevels:
			pl = p.Content()
		}
	}
	levels, err := powerlevels.Parse(room, pl)
	if err != nil {
		return false, nil // unreadable levels give no power
	}
	return levels.UserLevel(sender) >= levels.Content.Redact, nil
}

// redactionApplies says whether a recorded redaction may be applied to a
// stored event: same room, and the redaction's sender has the power or is
// on the server of the event's sender.
func redactionApplies(r storage.Redaction, target storage.Event) bool {
	if r.RoomID != target.RoomID || r.TargetID != target.EventID || r.RedactionID == target.EventID {
		return false
	}
	if r.ByPower {
		return true
	}
	a, errA := ids.ServerOf(r.Sender)
	b, errB := ids.ServerOf(target.Sender)
	return errA == nil && errB == nil && a == b
}

// redactedForm is the stored form of a redacted event: the room version's
// redaction algorithm applied, then unsigned.redacted_because.
func redactedForm(v gomatrixserverlib.IRoomVersion, target, redaction []byte) ([]byte, error) {
	out, err := v.RedactEventJSON(target)
	if err != nil {
		return nil, fmt.Errorf("rooms: redact: %w", err)
	}
	if out, err = gomatrixserverlib.CanonicalJSON(out); err != nil {
		return nil, fmt.Errorf("rooms: redact: %w", err)
	}
	because, err := gomatrixserverlib.CanonicalJSON(stripUnsigned(redaction))
	if err != nil {
		return nil, fmt.Errorf("rooms: redact: %w", err)
	}
	if out, err = sjson.SetRawBytes(out, "unsigned", append(append([]byte(`{"redacted_because":`), because...), '}')); err != nil {
		return nil, fmt.Errorf("rooms: redact: %w", err)
	}
	return out, nil
}

func stripUnsigned(ev []byte) []byte {
	out, err := sjson.DeleteBytes(ev, "unsigned")
	if err != nil {
		return ev
	}
	return out
}

// addRedaction records an accepted redaction in w and, when its target is
// stored and the redaction may apply to it, redacts the target in the same
// write. It returns the target as it was, when it was redacted now.
func (e *Engine) addRedaction(ctx context.Context, v gomatrixserverlib.IRoomVersion, w *storage.RoomWrite, ev gomatrixserverlib.PDU, before stateSet) (*storage.Event, error) {
	targetID := RedactsOf(ev)
	if !isEventID(targetID) {
		return nil, nil
	}
	byPower, err := e.redactPower(ctx, v, before, string(ev.SenderID()))
	if err != nil {
		return nil, err
	}
	rec := storage.Redaction{RedactionID: ev.EventID(), RoomID: ev.RoomID().String(), TargetID: targetID,
		Sender: string(ev.SenderID()), ByPower: byPower}
	target, err := e.cfg.Store.Event(ctx, targetID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// Kept until the target arrives.
	case err != nil:
		return nil, fmt.Errorf("rooms: load redaction target: %w", err)
	case target.RedactedBy == "" && redactionApplies(rec, target):
		form, err := redactedForm(v, target.JSON, ev.JSON())
		if err != nil {
			return nil, err
		}
		w.Redact = append(w.Redact, storage.RedactedEvent{EventID: targetID, JSON: form, RedactedBy: ev.EventID()})
		rec.Applied = true
		w.Redactions = append(w.Redactions, rec)
		return &target, nil
	}
	w.Redactions = append(w.Redactions, rec)
	return nil, nil
}

// write stores a RoomWrite after applying the redactions recorded for any
// of its events (a redaction that came before its target), and forgets
// the decoded copies of whatever it redacts.
func (e *Engine) write(ctx context.Context, v gomatrixserverlib.IRoomVersion, w *storage.RoomWrite) ([]int64, error) {
	ids := make([]string, 0, len(w.Events))
	for _, u := range w.Events {
		ids = append(ids, u.Event.EventID)
	}
	if len(ids) > 0 {
		recs, err := e.cfg.Store.RedactionsFor(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("rooms: load redactions: %w", err)
		}
		for _, r := range recs {
			for i := range w.Events {
				u := &w.Events[i]
				if u.Event.EventID != r.TargetID || u.Event.RedactedBy != "" || !redactionApplies(r, u.Event) {
					continue
				}
				red, err := e.cfg.Store.Event(ctx, r.RedactionID)
				if err != nil {
					return nil, fmt.Errorf("rooms: load redaction %s: %w", r.RedactionID, err)
				}
				form, err := redactedForm(v, u.Event.JSON, red.JSON)
				if err != nil {
					return nil, err
				}
				u.Event.JSON, u.Event.RedactedBy, u.Relation = form, r.RedactionID, nil
				r.Applied = true
				w.Redactions = append(w.Redactions, r)
			}
		}
	}
	pos, err := e.cfg.Store.WriteRoom(ctx, *w)
	if err != nil {
		return nil, err
	}
	if len(w.Redact) > 0 || len(w.Redactions) > 0 {
		e.events.mu.Lock()
		for _, r := range w.Redact {
			delete(e.events.m, r.EventID)
		}
		for _, r := range w.Redactions {
			delete(e.events.m, r.TargetID)
		}
		e.events.mu.Unlock()
	}
	return pos, nil
}

// asStored is the PDU of an event as write stored it: its redacted form
// when a redaction recorded earlier was applied on the way in.
func asStored(v gomatrixserverlib.IRoomVersion, ev gomatrixserverlib.PDU, u storage.EventUpdate) gomatrixserverlib.PDU {
	if u.Event.RedactedBy == "" {
		return ev
	}
	if p, err := v.NewEventFromTrustedJSONWithEventID(ev.EventID(), u.Event.JSON, true); err == nil {
		return p
	}
	return ev
}
