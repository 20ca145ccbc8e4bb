package homeserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/relations"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// SendMessage sends a text message from a local user and returns its event
// ID. It is stored before SendMessage returns and delivered to the other
// servers in the room by the send queue.
func (s *Server) SendMessage(ctx context.Context, roomID, sender, body string) (string, error) {
	return s.Send(ctx, roomID, sender, MessageContent{Body: body})
}

// Send sends a message from a local user: plain or formatted text, a
// notice or an emote, optionally a reply, a thread message, with mentions.
// It returns the event ID; the message is stored before Send returns.
// A reply or thread root this server does not hold in the room fails with
// ErrUnknownEvent; bad content with ErrInvalidContent.
//
// https://spec.matrix.org/v1.16/client-server-api/#mroommessage
func (s *Server) Send(ctx context.Context, roomID, sender string, m MessageContent) (string, error) {
	from, err := s.UserID(sender)
	if err != nil {
		return "", err
	}
	c, err := s.outgoing(ctx, roomID, m, true)
	if err != nil {
		return "", err
	}
	ev, err := s.rooms.Send(ctx, roomID, from, "m.room.message", nil, c)
	if err != nil {
		return "", err
	}
	return ev.EventID(), nil
}

// outgoing turns what the host sends into an m.room.message content;
// with relate, its reply and thread too.
func (s *Server) outgoing(ctx context.Context, roomID string, m MessageContent, relate bool) (content.Message, error) {
	c := content.Message{MsgType: m.MsgType, Body: m.Body}
	switch c.MsgType {
	case "":
		c.MsgType = content.MsgText
	case content.MsgText, content.MsgNotice, content.MsgEmote:
	default:
		return c, fmt.Errorf("%w: msgtype %q (m.text, m.notice or m.emote)", ErrInvalidContent, m.MsgType)
	}
	if c.Body == "" {
		return c, fmt.Errorf("%w: empty body", ErrInvalidContent)
	}
	if m.FormattedBody != "" {
		c.Format, c.FormattedBody = content.FormatHTML, m.FormattedBody
	}
	if len(m.Mentions) > 0 || m.MentionRoom {
		c.Mentions = &content.Mentions{Room: m.MentionRoom}
		for _, u := range m.Mentions {
			if _, err := ids.ParseHistoricalUserID(u); err != nil {
				return c, fmt.Errorf("%w: mention %q: %v", ErrInvalidUserID, u, err)
			}
			c.Mentions.UserIDs = append(c.Mentions.UserIDs, u)
		}
	}
	if !relate {
		if m.ReplyTo != "" || m.ThreadRoot != "" {
			return c, fmt.Errorf("%w: an edit keeps the original's reply and thread", ErrInvalidContent)
		}
		return c, nil
	}
	switch {
	case m.ThreadRoot != "":
		root, err := s.eventIn(ctx, roomID, m.ThreadRoot)
		if err != nil {
			return c, err
		}
		if err := relations.CheckThreadRoot(roomID, relEvent(root)); err != nil {
			return c, err
		}
		if m.ReplyTo != "" {
			if _, err := s.eventIn(ctx, roomID, m.ReplyTo); err != nil {
				return c, err
			}
		}
		latest := ""
		thread, err := s.store.Relations(ctx, []string{root.EventID}, content.RelThread)
		if err != nil {
			return c, err
		}
		if len(thread) > 0 {
			latest = thread[len(thread)-1].EventID
		}
		c = relations.ThreadContent(c, root.EventID, latest, m.ReplyTo)
	case m.ReplyTo != "":
		target, err := s.eventIn(ctx, roomID, m.ReplyTo)
		if err != nil {
			return c, err
		}
		if root := relations.ThreadFor(relEvent(target)); root != "" {
			c = relations.ThreadContent(c, root, "", target.EventID)
		} else {
			c = relations.ReplyContent(c, target.EventID)
		}
	}
	return c, nil
}

// relEvent is what the relation rules need of a stored event.
func relEvent(ev storage.Event) relations.Event {
	return relations.Event{
		EventID: ev.EventID, RoomID: ev.RoomID, Type: ev.Type, Sender: ev.Sender, IsState: ev.StateKey != nil,
		OriginServerTS: ev.OriginServerTS, StreamPos: ev.StreamPos, Content: content.Of(ev.JSON),
	}
}

// Messages returns a room's messages with StreamPos after the given one,
// oldest first, at most limit of them, each with its latest valid edit,
// whether it was deleted, and its reactions. Edits are not messages of
// their own: they show in the message they edit.
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
			if m, ok := storedMessage(ev); ok {
				out = append(out, m)
			}
			if len(out) == limit {
				break
			}
		}
	}
	if err := s.aggregate(ctx, out); err != nil {
		return nil, err
	}
	s.setSenderNames(ctx, roomID, out)
	return out, nil
}

// Message returns one message of a room as Messages shows it. An event
// that is not a message of that room fails with ErrUnknownEvent.
func (s *Server) Message(ctx context.Context, roomID, eventID string) (Message, error) {
	ev, err := s.eventIn(ctx, roomID, eventID)
	if err != nil {
		return Message{}, err
	}
	m, ok := storedMessage(ev)
	if !ok {
		return Message{}, fmt.Errorf("%w: %s is not a message", ErrUnknownEvent, eventID)
	}
	out := []Message{m}
	if err := s.aggregate(ctx, out); err != nil {
		return Message{}, err
	}
	s.setSenderNames(ctx, roomID, out)
	return out[0], nil
}

// historyMessages reads fetched history as the host is to see it: each
// message as stored once the batch is in, so a message that a redaction
// in the same batch (or one held before) deleted comes out Deleted with
// no body, and an edit shows in its message, never the copy the remote
// served. Events the store does not hold as messages are left out.
func (s *Server) historyMessages(ctx context.Context, roomID string, evs []gomatrixserverlib.PDU) []Message {
	var out []Message
	for _, ev := range evs {
		if ev.Type() != "m.room.message" {
			continue
		}
		m, err := s.Message(ctx, roomID, ev.EventID())
		if err != nil {
			continue
		}
		out = append(out, m)
	}
	return out
}

// storedMessage reads a stored event as a message: false for other
// events and for edits. A redacted m.room.message is a deleted message.
func storedMessage(ev storage.Event) (Message, bool) {
	if ev.Type != "m.room.message" || ev.StateKey != nil {
		return Message{}, false
	}
	if ev.RedactedBy != "" {
		return Message{RoomID: ev.RoomID, EventID: ev.EventID, Sender: ev.Sender, Deleted: true,
			Timestamp: time.UnixMilli(ev.OriginServerTS), StreamPos: ev.StreamPos}, true
	}
	return messageOf(ev.RoomID, ev.EventID, ev.Sender, ev.OriginServerTS, ev.StreamPos, content.Of(ev.JSON))
}

// messageOf reads an m.room.message content: false when it has no
// msgtype or is an edit (an edit shows in the message it edits).
func messageOf(roomID, eventID, sender string, ts, pos int64, raw []byte) (Message, bool) {
	c, err := content.ParseMessage(raw)
	if err != nil || c.MsgType == "" || c.RelatesTo != nil && c.RelatesTo.RelType == content.RelReplace {
		return Message{}, false
	}
	m := Message{RoomID: roomID, EventID: eventID, Sender: sender, Timestamp: time.UnixMilli(ts), StreamPos: pos}
	setContent(&m, c)
	m.ReplyTo, m.ThreadRoot = relations.ReplyTarget(c.RelatesTo), relations.ThreadRoot(c.RelatesTo)
	return m, true
}

// setContent puts a message content's text, HTML (sanitised) and
// mentions in m.
func setContent(m *Message, c content.Message) {
	m.MsgType, m.Body, m.Format, m.FormattedBody = c.MsgType, c.Body, "", ""
	if c.IsHTML() {
		m.Format, m.FormattedBody = c.Format, content.SanitizeHTML(c.FormattedBody)
	}
	m.Mentions, m.MentionsRoom = nil, false
	if c.Mentions != nil {
		m.Mentions, m.MentionsRoom = c.Mentions.UserIDs, c.Mentions.Room
	}
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
		return s.historyMessages(ctx, roomID, evs), nil
	}
	if len(errs) == 0 {
		return nil, nil
	}
	return nil, fmt.Errorf("homeserver: backfill %s: %w", roomID, errors.Join(errs...))
}

// onMessageAccepted tells the host of a remote m.room.message, or of an
// edit when it is one.
func (s *Server) onMessageAccepted(a rooms.Accepted) {
	ev := a.Event
	if rel := content.ParseRelatesTo(ev.Content()); rel != nil && rel.RelType == content.RelReplace {
		s.onEditAccepted(a, rel.EventID)
		return
	}
	m, ok := messageOf(ev.RoomID().String(), ev.EventID(), string(ev.SenderID()), int64(ev.OriginServerTS()), a.StreamPos, ev.Content())
	if !ok {
		s.onOtherAccepted(a)
		return
	}
	if h := s.cfg.Hooks.OnMessage; h != nil {
		s.hooks.push(func(ctx context.Context) {
			m.SenderName = s.displayNameIn(ctx, m.RoomID, m.Sender)
			h(ctx, m)
		})
	}
}
