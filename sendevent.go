package homeserver

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// refusedTypes have their own lifecycle in this library, or are out of
// scope (encryption): SendEvent refuses them.
var refusedTypes = map[string]string{
	spec.MRoomCreate:    "rooms are created with CreateRoom",
	spec.MRoomMember:    "membership goes through Invite, JoinRoom, Leave, Kick and Ban",
	spec.MRoomRedaction: "deletions go through Redact",
	"m.room.encryption": "encrypted rooms cannot be federated",
	"m.room.encrypted":  "encrypted rooms cannot be federated",
}

// SendEvent sends any message-like event (stateKey nil) or state event by
// type and content from a local user: stickers, pins, room avatars,
// custom types. The content must be a JSON object. Types with their own
// lifecycle or out of scope fail with ErrEventTypeNotAllowed; a reaction
// gets the same checks as React.
func (s *Server) SendEvent(ctx context.Context, roomID, sender, eventType string, stateKey *string, raw json.RawMessage) (string, error) {
	from, err := s.UserID(sender)
	if err != nil {
		return "", err
	}
	if why, refused := refusedTypes[eventType]; refused || eventType == "" {
		if eventType == "" {
			why = "no type"
		}
		return "", fmt.Errorf("%w: %q: %s", ErrEventTypeNotAllowed, eventType, why)
	}
	if _, err := content.ParseEvent(raw); err != nil || len(raw) == 0 || raw[0] != '{' {
		return "", fmt.Errorf("%w: the content must be a JSON object", ErrInvalidContent)
	}
	if eventType == "m.reaction" && stateKey == nil {
		return s.sendReaction(ctx, roomID, from, eventType, raw)
	}
	ev, err := s.rooms.Send(ctx, roomID, from, eventType, stateKey, raw)
	if err != nil {
		return "", err
	}
	return ev.EventID(), nil
}

// onOtherAccepted tells the host of a remote event no other hook covers.
func (s *Server) onOtherAccepted(a rooms.Accepted) {
	h := s.cfg.Hooks.OnEvent
	if h == nil {
		return
	}
	ev := a.Event
	e := Event{RoomID: ev.RoomID().String(), EventID: ev.EventID(), Type: ev.Type(), StateKey: ev.StateKey(),
		Sender: string(ev.SenderID()), Content: json.RawMessage(ev.Content()), StreamPos: a.StreamPos,
		Timestamp: time.UnixMilli(int64(ev.OriginServerTS()))}
	s.hooks.push(func(ctx context.Context) { h(ctx, e) })
}
