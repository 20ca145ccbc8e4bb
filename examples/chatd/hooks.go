package main

import (
	"context"

	homeserver "github.com/embedmatrix/homeserver"
)

// hooks is how chatd hears what users on other servers did: messages go
// into its own log (deleted ones lose their text there), everything else
// is logged, and every event wakes the pages' live-update streams.
func (a *App) hooks() homeserver.Hooks {
	return homeserver.Hooks{
		OnMessage: func(ctx context.Context, m homeserver.Message) {
			err := a.db.putMessage(ctx, message{EventID: m.EventID, RoomID: m.RoomID, Sender: m.Sender, Body: m.Body, TS: m.Timestamp.UnixMilli()})
			if err != nil {
				a.log.Error("could not store a message", "room_id", m.RoomID, "event_id", m.EventID, "err", err)
			}
			a.log.Info("message", "room_id", m.RoomID, "sender", m.Sender, "backfilled", m.Backfilled)
			a.events.bump()
		},
		// Edits and reactions are read from the library with each message
		// (GET .../messages); chatd only wakes the pages.
		OnEdit: func(_ context.Context, e homeserver.Edit) {
			a.log.Info("edit", "room_id", e.RoomID, "target", e.Target, "sender", e.Sender)
			a.events.bump()
		},
		OnReaction: func(_ context.Context, r homeserver.Reaction) {
			a.log.Info("reaction", "room_id", r.RoomID, "target", r.Target, "sender", r.Sender, "key", r.Key, "removed", r.Removed)
			a.events.bump()
		},
		// A deleted message keeps its line in chatd's log, without its text.
		OnRedaction: func(ctx context.Context, r homeserver.Redaction) {
			if r.TargetType == "m.room.message" {
				if err := a.db.scrubMessage(ctx, r.RoomID, r.Target); err != nil {
					a.log.Error("could not forget a deleted message", "room_id", r.RoomID, "event_id", r.Target, "err", err)
				}
			}
			a.log.Info("redaction", "room_id", r.RoomID, "target", r.Target, "type", r.TargetType, "sender", r.Sender)
			a.events.bump()
		},
		OnEvent: func(_ context.Context, e homeserver.Event) {
			a.log.Debug("event", "room_id", e.RoomID, "type", e.Type, "sender", e.Sender)
			a.events.bump()
		},
		OnInvite: func(_ context.Context, inv homeserver.Invite) {
			a.log.Info("invite", "room_id", inv.RoomID, "inviter", inv.Inviter, "invitee", inv.Invitee)
			a.events.bump()
		},
		OnInviteState: func(_ context.Context, inv homeserver.Invite) {
			a.log.Info("invite state", "room_id", inv.RoomID, "invitee", inv.Invitee, "state", inv.State)
			a.events.bump()
		},
		OnMembership: func(_ context.Context, m homeserver.Membership) {
			a.log.Info("membership", "room_id", m.RoomID, "user_id", m.UserID, "change", m.Change, "by", m.Sender)
			a.events.bump()
		},
		OnRoomName: func(_ context.Context, c homeserver.RoomChange) {
			a.log.Info("room name", "room_id", c.RoomID, "name", c.Value)
			a.events.bump()
		},
		OnRoomTopic: func(_ context.Context, c homeserver.RoomChange) {
			a.log.Info("room topic", "room_id", c.RoomID, "topic", c.Value)
			a.events.bump()
		},
		OnRoleChange: func(_ context.Context, c homeserver.RoleChange) {
			a.log.Info("role", "room_id", c.RoomID, "user_id", c.UserID, "role", c.NewRole)
			a.events.bump()
		},
		OnReceipt: func(_ context.Context, r homeserver.Receipt) {
			a.log.Debug("receipt", "room_id", r.RoomID, "user_id", r.UserID, "event_id", r.EventID)
			a.events.bump()
		},
		OnPresence: func(_ context.Context, p homeserver.Presence) {
			a.log.Debug("presence", "user_id", p.UserID, "presence", p.Presence, "expired", p.Expired)
			a.events.bump()
		},
		OnKnock: func(_ context.Context, k homeserver.Knock) {
			a.log.Info("knock", "room_id", k.RoomID, "user_id", k.UserID, "state", k.State)
			a.events.bump()
		},
		OnTyping: func(_ context.Context, t homeserver.Typing) {
			a.log.Debug("typing", "room_id", t.RoomID, "user_id", t.UserID, "typing", t.Typing)
			a.events.bump()
		},
	}
}
