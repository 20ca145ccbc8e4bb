package homeserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// SendMessage sends a text message from a local user and returns its event
// ID. It is stored before SendMessage returns and delivered to the other
// servers in the room by the send queue.
func (s *Server) SendMessage(ctx context.Context, roomID, sender, body string) (string, error) {
	from, err := s.UserID(sender)
	if err != nil {
		return "", err
	}
	ev, err := s.rooms.Send(ctx, roomID, from, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": body})
	if err != nil {
		return "", err
	}
	return ev.EventID(), nil
}

// Messages returns a room's messages with StreamPos after the given one,
// oldest first, at most limit of them.
func (s *Server) Messages(ctx context.Context, roomID string, after int64, limit int) ([]Message, error) {
	var out []Message
	for len(out) < limit {
		evs, err := s.store.RoomEvents(ctx, roomID, after, limit)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			after = ev.StreamPos
			if ev.Type != "m.room.message" {
				continue
			}
			if m, ok := messageOf(ev.RoomID, ev.EventID, ev.Sender, ev.OriginServerTS, ev.StreamPos, content.Of(ev.JSON)); ok {
				out = append(out, m)
			}
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// Backfill fetches up to limit messages older than what this server holds
// of a room from the other servers in it, checks them, stores them, and
// returns them oldest first. Hooks are not called for history.
// https://spec.matrix.org/v1.16/server-server-api/#backfilling-and-retrieving-missing-events
func (s *Server) Backfill(ctx context.Context, roomID string, limit int) ([]Message, error) {
	servers, err := s.rooms.JoinedServers(ctx, roomID)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, server := range servers {
		if spec.ServerName(server) == s.name {
			continue
		}
		evs, err := s.rooms.FetchHistory(ctx, spec.ServerName(server), roomID, limit)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var out []Message
		for _, ev := range evs {
			if ev.Type() != "m.room.message" {
				continue
			}
			if m, ok := messageOf(roomID, ev.EventID(), string(ev.SenderID()), int64(ev.OriginServerTS()), 0, ev.Content()); ok {
				out = append(out, m)
			}
		}
		return out, nil
	}
	if len(errs) == 0 {
		return nil, nil
	}
	return nil, fmt.Errorf("homeserver: backfill %s: %w", roomID, errors.Join(errs...))
}

// onMessageAccepted tells the host of a remote m.room.message.
func (s *Server) onMessageAccepted(a rooms.Accepted) {
	ev := a.Event
	h := s.cfg.Hooks.OnMessage
	m, ok := messageOf(ev.RoomID().String(), ev.EventID(), string(ev.SenderID()), int64(ev.OriginServerTS()), a.StreamPos, ev.Content())
	if ok && h != nil {
		s.hooks.push(func(ctx context.Context) { h(ctx, m) })
	}
}
