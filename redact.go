package homeserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/powerlevels"
	"github.com/embedmatrix/homeserver/relations"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Deletions are redactions: the event stays in the room's graph, its
// content is stripped by the room version's redaction algorithm, and the
// stripped form is what this server serves from then on (package rooms
// applies them, inbound and local alike).
// https://spec.matrix.org/v1.16/client-server-api/#redactions

// Redact deletes an event of a room for a local user, with an optional
// reason, and returns the redaction's event ID. Users may redact their
// own events; other users' need the room's redact power level
// (moderators by default), else it fails with ErrForbidden. The event
// must be one this server holds in the room (ErrUnknownEvent).
func (s *Server) Redact(ctx context.Context, roomID, sender, eventID, reason string) (string, error) {
	from, err := s.UserID(sender)
	if err != nil {
		return "", err
	}
	target, err := s.eventIn(ctx, roomID, eventID)
	if err != nil {
		return "", err
	}
	if target.Sender != from {
		r, pl, err := s.plRoom(ctx, roomID)
		if err != nil {
			return "", err
		}
		levels, err := powerlevels.Parse(r, pl)
		if err != nil {
			return "", err
		}
		if levels.UserLevel(from) < levels.Content.Redact {
			return "", fmt.Errorf("%w: %s may not redact %s's events (level %d, redact needs %d)",
				ErrForbidden, from, target.Sender, levels.UserLevel(from), levels.Content.Redact)
		}
	}
	c := map[string]any{"redacts": eventID}
	if reason != "" {
		c["reason"] = reason
	}
	ev, err := s.rooms.Send(ctx, roomID, from, spec.MRoomRedaction, nil, c)
	if err != nil {
		return "", err
	}
	return ev.EventID(), nil
}

// onRedactionAccepted tells the host of a remote redaction that was
// applied: what was deleted, by whom, why; a removed reaction as such;
// a deleted room name or topic as cleared.
func (s *Server) onRedactionAccepted(a rooms.Accepted) {
	if a.Redacted == nil {
		return // not applied: no power, or the target is not here (yet)
	}
	ev, target := a.Event, *a.Redacted
	roomID := ev.RoomID().String()
	c, _ := content.ParseRedaction(ev.Content())
	r := Redaction{RoomID: roomID, EventID: ev.EventID(), Target: target.EventID, Sender: string(ev.SenderID()),
		Reason: c.Reason, TargetType: target.Type, TargetSender: target.Sender,
		Timestamp: time.UnixMilli(int64(ev.OriginServerTS()))}
	h := s.cfg.Hooks
	if h.OnRedaction != nil {
		s.hooks.push(func(ctx context.Context) { h.OnRedaction(ctx, r) })
	}
	if re, annotated, ok := relations.ParseReaction(relEvent(target)); ok && h.OnReaction != nil {
		removed := Reaction{RoomID: roomID, EventID: target.EventID, Target: annotated, Sender: target.Sender, Key: re.Key,
			Removed: true, RemovedBy: ev.EventID(), Timestamp: r.Timestamp}
		s.hooks.push(func(ctx context.Context) { h.OnReaction(ctx, removed) })
	}
	if target.StateKey != nil && *target.StateKey == "" && (target.Type == spec.MRoomName || target.Type == spec.MRoomTopic) {
		hook := h.OnRoomName
		if target.Type == spec.MRoomTopic {
			hook = h.OnRoomTopic
		}
		if hook == nil {
			return
		}
		s.hooks.push(func(ctx context.Context) {
			cur, err := s.store.StateEvent(ctx, roomID, target.Type, "")
			if err != nil && !errors.Is(err, storage.ErrNotFound) || err == nil && cur.EventID != target.EventID {
				return // not the current name or topic: nothing changes
			}
			hook(ctx, RoomChange{RoomID: roomID, EventID: ev.EventID(), Sender: r.Sender, Value: ""})
		})
	}
}
