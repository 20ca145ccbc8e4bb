package homeserver

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/relations"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
)

// Edits and reactions: what relates to a message, sent and aggregated as
// the client-server spec says servers do.
// https://spec.matrix.org/v1.16/client-server-api/#event-replacements
// https://spec.matrix.org/v1.16/client-server-api/#event-annotations-and-reactions

// Edit replaces the content of a local user's message (m.replace with
// m.new_content and the "* " fallback body) and returns the edit's event
// ID. The original keeps its reply and thread. Editing another user's
// message fails with ErrForbidden (and ErrInvalidEdit); a state event, an
// edit, or an event of another type with ErrInvalidEdit; an event this
// server does not hold in the room with ErrUnknownEvent.
func (s *Server) Edit(ctx context.Context, roomID, sender, eventID string, m MessageContent) (string, error) {
	from, err := s.UserID(sender)
	if err != nil {
		return "", err
	}
	orig, err := s.eventIn(ctx, roomID, eventID)
	if err != nil {
		return "", err
	}
	if orig.Sender != from {
		return "", fmt.Errorf("%w: %w: %s is %s's message", ErrForbidden, ErrInvalidEdit, eventID, orig.Sender)
	}
	if orig.RedactedBy != "" {
		return "", fmt.Errorf("%w: %s was deleted", ErrInvalidEdit, eventID)
	}
	if m.MsgType == "" {
		if c, err := content.ParseMessage(content.Of(orig.JSON)); err == nil && c.MsgType != "" {
			m.MsgType = c.MsgType
		}
	}
	c, err := s.outgoing(ctx, roomID, m, false)
	if err != nil {
		return "", err
	}
	edit := relations.EditContent(eventID, c)
	raw, err := edit.JSON()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidContent, err)
	}
	if err := relations.CheckEdit(relEvent(orig), relations.Event{
		EventID: "$pending", RoomID: roomID, Type: "m.room.message", Sender: from, Content: raw,
	}); err != nil {
		return "", err
	}
	ev, err := s.rooms.Send(ctx, roomID, from, "m.room.message", nil, json.RawMessage(raw))
	if err != nil {
		return "", err
	}
	return ev.EventID(), nil
}

// React sends a local user's reaction (m.annotation with key) to an event
// and returns its event ID. The same user reacting twice with the same key
// fails with ErrDuplicateAnnotation; an empty or over-long key, or a target
// that is itself an edit or a reaction, with ErrInvalidReaction.
func (s *Server) React(ctx context.Context, roomID, sender, eventID, key string) (string, error) {
	from, err := s.UserID(sender)
	if err != nil {
		return "", err
	}
	raw, err := relations.ReactionContent(eventID, key)
	if err != nil {
		return "", err
	}
	return s.sendReaction(ctx, roomID, from, "m.reaction", raw)
}

// sendReaction checks an annotation against its target and the reactions
// already there, then sends it. One at a time per server, so two
// identical reactions sent at once cannot both pass the check.
func (s *Server) sendReaction(ctx context.Context, roomID, from, typ string, raw []byte) (string, error) {
	rel := content.ParseRelatesTo(raw)
	if rel == nil || rel.RelType != content.RelAnnotation {
		return "", fmt.Errorf("%w: no m.annotation relation", ErrInvalidReaction)
	}
	target, err := s.eventIn(ctx, roomID, rel.EventID)
	if err != nil {
		return "", err
	}
	if err := relations.CheckAnnotationTarget(roomID, relEvent(target)); err != nil {
		return "", err
	}
	s.reactMu.Lock()
	defer s.reactMu.Unlock()
	existing, err := s.reactions(ctx, rel.EventID)
	if err != nil {
		return "", err
	}
	if err := relations.CheckNewReaction(existing, from, rel.Key); err != nil {
		return "", err
	}
	ev, err := s.rooms.Send(ctx, roomID, from, typ, nil, json.RawMessage(raw))
	if err != nil {
		return "", err
	}
	return ev.EventID(), nil
}

// Unreact removes a local user's reaction with key from an event by
// redacting it. With no such reaction it fails with ErrUnknownEvent.
func (s *Server) Unreact(ctx context.Context, roomID, sender, eventID, key string) error {
	from, err := s.UserID(sender)
	if err != nil {
		return err
	}
	if _, err := s.eventIn(ctx, roomID, eventID); err != nil {
		return err
	}
	existing, err := s.reactions(ctx, eventID)
	if err != nil {
		return err
	}
	for _, r := range existing {
		if r.Sender == from && r.Key == key {
			_, err := s.Redact(ctx, roomID, sender, r.EventID, "")
			return err
		}
	}
	return fmt.Errorf("%w: %s has no reaction %q from %s", ErrUnknownEvent, eventID, key, from)
}

// reactions are the current (unredacted) reactions to an event.
func (s *Server) reactions(ctx context.Context, eventID string) ([]relations.Reaction, error) {
	rels, err := s.store.Relations(ctx, []string{eventID}, content.RelAnnotation)
	if err != nil {
		return nil, err
	}
	var out []relations.Reaction
	for _, r := range rels {
		if r.Type == relations.TypeReaction {
			out = append(out, relations.Reaction{EventID: r.EventID, Sender: r.Sender, Key: r.Key, StreamPos: r.StreamPos})
		}
	}
	return out, nil
}

// Relations returns what relates to one event of a room: its valid
// edits, its reactions, and its thread.
func (s *Server) Relations(ctx context.Context, roomID, eventID string) (Relations, error) {
	orig, err := s.eventIn(ctx, roomID, eventID)
	if err != nil {
		return Relations{}, err
	}
	rels, err := s.store.Relations(ctx, []string{eventID}, "")
	if err != nil {
		return Relations{}, err
	}
	var out Relations
	edits, err := s.validEdits(ctx, orig, rels)
	if err != nil {
		return Relations{}, err
	}
	for _, e := range edits {
		out.Edits = append(out.Edits, editOf(e, eventID))
	}
	var reacts []relations.Reaction
	for _, r := range rels {
		switch {
		case r.RelType == content.RelAnnotation && r.Type == relations.TypeReaction:
			reacts = append(reacts, relations.Reaction{EventID: r.EventID, Sender: r.Sender, Key: r.Key, StreamPos: r.StreamPos})
		case r.RelType == content.RelThread && r.RoomID == roomID:
			out.Thread = append(out.Thread, r.EventID)
		}
	}
	out.Reactions = relations.Aggregate(reacts)
	return out, nil
}

// validEdits returns the valid edits among rels, oldest first.
func (s *Server) validEdits(ctx context.Context, orig storage.Event, rels []storage.Relation) ([]relations.Event, error) {
	var ids []string
	for _, r := range rels {
		if r.RelType == content.RelReplace && r.TargetID == orig.EventID {
			ids = append(ids, r.EventID)
		}
	}
	if len(ids) == 0 || orig.RedactedBy != "" {
		return nil, nil
	}
	evs, err := s.store.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	o := relEvent(orig)
	var out []relations.Event
	for _, ev := range evs {
		e := relEvent(ev)
		if ev.Status == storage.StatusAccepted && ev.RedactedBy == "" && relations.CheckEdit(o, e) == nil {
			out = append(out, e)
		}
	}
	sortEdits(out)
	return out, nil
}

// sortEdits orders edits as the spec orders replacements: by
// origin_server_ts, then event ID.
func sortEdits(es []relations.Event) {
	slices.SortFunc(es, func(a, b relations.Event) int {
		if c := cmp.Compare(a.OriginServerTS, b.OriginServerTS); c != 0 {
			return c
		}
		return strings.Compare(a.EventID, b.EventID)
	})
}

// editOf is the host's view of a valid edit.
func editOf(e relations.Event, target string) Edit {
	out := Edit{RoomID: e.RoomID, EventID: e.EventID, Target: target, Sender: e.Sender, Timestamp: time.UnixMilli(e.OriginServerTS)}
	if c, err := content.ParseMessage(e.Content); err == nil && c.NewContent != nil {
		var m Message
		setContent(&m, *c.NewContent)
		out.MsgType, out.Body, out.Format, out.FormattedBody, out.Mentions = m.MsgType, m.Body, m.Format, m.FormattedBody, m.Mentions
	}
	return out
}

// aggregate fills in each message's latest valid edit and its reactions,
// with one query for the relations of all of them.
func (s *Server) aggregate(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.EventID
	}
	rels, err := s.store.Relations(ctx, ids, "")
	if err != nil {
		return err
	}
	byTarget := map[string][]storage.Relation{}
	for _, r := range rels {
		byTarget[r.TargetID] = append(byTarget[r.TargetID], r)
	}
	for i := range msgs {
		m := &msgs[i]
		rs := byTarget[m.EventID]
		if len(rs) == 0 || m.Deleted {
			continue
		}
		var reacts []relations.Reaction
		hasEdit := false
		for _, r := range rs {
			switch {
			case r.RelType == content.RelAnnotation && r.Type == relations.TypeReaction && r.RoomID == m.RoomID:
				reacts = append(reacts, relations.Reaction{EventID: r.EventID, Sender: r.Sender, Key: r.Key, StreamPos: r.StreamPos})
			case r.RelType == content.RelReplace:
				hasEdit = true
			}
		}
		m.Reactions = relations.Aggregate(reacts)
		if !hasEdit {
			continue
		}
		orig, err := s.store.Event(ctx, m.EventID)
		if err != nil {
			return err
		}
		edits, err := s.validEdits(ctx, orig, rs)
		if err != nil {
			return err
		}
		if len(edits) == 0 {
			continue
		}
		latest := edits[len(edits)-1]
		shown, err := relations.ApplyEdit(relEvent(orig), latest)
		if err != nil {
			continue
		}
		setContent(m, shown)
		m.Edited, m.EditID, m.EditedAt = true, latest.EventID, time.UnixMilli(latest.OriginServerTS)
	}
	return nil
}

// onEditAccepted tells the host of a remote user's valid edit of a
// message this server holds.
func (s *Server) onEditAccepted(a rooms.Accepted, target string) {
	h := s.cfg.Hooks.OnEdit
	if h == nil {
		return
	}
	ev := a.Event
	e := relations.Event{EventID: ev.EventID(), RoomID: ev.RoomID().String(), Type: ev.Type(), Sender: string(ev.SenderID()),
		IsState: ev.StateKey() != nil, OriginServerTS: int64(ev.OriginServerTS()), StreamPos: a.StreamPos, Content: ev.Content()}
	s.hooks.push(func(ctx context.Context) {
		orig, err := s.eventIn(ctx, e.RoomID, target)
		if err != nil || orig.RedactedBy != "" || relations.CheckEdit(relEvent(orig), e) != nil {
			return
		}
		h(ctx, editOf(e, target))
	})
}

// onReactionAccepted tells the host of a remote user's reaction to an
// event this server holds, unless it repeats one the user already made.
func (s *Server) onReactionAccepted(a rooms.Accepted) {
	h := s.cfg.Hooks.OnReaction
	if h == nil {
		return
	}
	ev := a.Event
	e := relations.Event{EventID: ev.EventID(), RoomID: ev.RoomID().String(), Type: ev.Type(), Sender: string(ev.SenderID()),
		OriginServerTS: int64(ev.OriginServerTS()), StreamPos: a.StreamPos, Content: ev.Content()}
	r, target, ok := relations.ParseReaction(e)
	if !ok {
		return
	}
	s.hooks.push(func(ctx context.Context) {
		t, err := s.eventIn(ctx, e.RoomID, target)
		if err != nil || relations.CheckAnnotationTarget(e.RoomID, relEvent(t)) != nil {
			return
		}
		existing, err := s.reactions(ctx, target)
		if err != nil {
			return
		}
		for _, x := range existing {
			if x.Sender == r.Sender && x.Key == r.Key && x.StreamPos < a.StreamPos {
				return // a duplicate: already reported
			}
		}
		h(ctx, Reaction{RoomID: e.RoomID, EventID: e.EventID, Target: target, Sender: e.Sender, Key: r.Key,
			Timestamp: time.UnixMilli(e.OriginServerTS)})
	})
}
