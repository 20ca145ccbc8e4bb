package homeserver

import (
	"context"
)

// Hooks is how the library tells the host what happened. Every field is
// optional. Hooks are called after the event is persisted and only for
// events that passed the auth rules, one at a time, in the order events
// were persisted, on a goroutine of the library's own: a slow hook delays
// later hooks but never federation traffic. Hooks report what other servers
// did; the host's own calls (SendMessage, CreateRoom...) are not echoed.
//
// Queued hook calls live in memory: if the process dies after an event is
// stored and before its hook ran, that call is lost (the event is not).
// A host that must not miss a message records the StreamPos of the last
// Message it handled and, on start, reads what came after it with
// Server.Messages (and Server.Invites for pending invites).
type Hooks struct {
	// OnMessage is called for each m.room.message from a remote user.
	OnMessage func(ctx context.Context, m Message)
	// OnMembership is called when a user's membership in a room changes.
	OnMembership func(ctx context.Context, m Membership)
	// OnInvite is called when a remote user invites one of our users.
	OnInvite func(ctx context.Context, inv Invite)
	// OnRoomName is called when a room's name changes.
	OnRoomName func(ctx context.Context, c RoomChange)
	// OnRoomTopic is called when a room's topic changes.
	OnRoomTopic func(ctx context.Context, c RoomChange)
	// OnInviteState is called when an invite, sent or received, moves:
	// pending -> accepted, rejected or revoked.
	OnInviteState func(ctx context.Context, inv Invite)
	// OnRoleChange is called when a remote power-levels change moves a
	// user to another host role.
	OnRoleChange func(ctx context.Context, c RoleChange)
	// OnReceipt is called when a remote user's read receipt arrives.
	OnReceipt func(ctx context.Context, r Receipt)
	// OnTyping is called when a remote user starts or stops typing,
	// including when they stop because no refresh came in time.
	OnTyping func(ctx context.Context, t Typing)
	// OnEdit is called for a remote user's valid edit (m.replace) of a
	// message this server holds. Invalid edits (another sender, another
	// type, an edit of an edit...) are stored but never reported.
	OnEdit func(ctx context.Context, e Edit)
	// OnRedaction is called when a remote redaction is applied: the event
	// it names is deleted (its content is gone from the store). A
	// redaction without the power to apply is stored, not reported.
	OnRedaction func(ctx context.Context, r Redaction)
	// OnReaction is called when a remote user reacts to a message
	// (m.annotation) and when such a reaction is redacted (Removed).
	OnReaction func(ctx context.Context, r Reaction)
	// OnEvent is called for every accepted remote event no other hook
	// covers (stickers, pins, room avatars, custom types...), state
	// events included.
	OnEvent func(ctx context.Context, e Event)
	// OnPresence is called when a remote user's presence, status message
	// or currently_active changes, including when the library moves them
	// (online to unavailable when idle, to offline when their server
	// stops reporting them).
	OnPresence func(ctx context.Context, p Presence)
	// OnKnock is called, on the room's side, when a remote user knocks on
	// a room this server is in (State "pending", with the knocker's
	// reason; accept with AcceptKnock, refuse with RefuseKnock), and, on
	// the knocker's side, when a local user's knock is answered (State
	// "accepted": an invite arrived, also reported by OnInvite; or
	// "refused": the room removed the knock). OnMembership reports the
	// same events with Change "knock", "knock_accepted", "knock_refused".
	OnKnock func(ctx context.Context, k Knock)
}
