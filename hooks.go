package homeserver

import (
	"context"
	"time"
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
}

// Message is a chat message in a room. Read through Messages or Message,
// it shows its latest valid edit, whether it was deleted and its
// reactions; in Hooks.OnMessage it is the message as it arrived.
type Message struct {
	RoomID  string
	EventID string
	Sender  string // full Matrix user ID
	MsgType string // "m.text", "m.notice", "m.emote", ...
	Body    string
	// Format is "org.matrix.custom.html" when the message has HTML.
	Format string
	// FormattedBody is the message's HTML, sanitised: only the tags and
	// attributes the client-server spec lists for m.room.message are
	// left (no scripts, no event handlers, links http(s)/mailto only,
	// images mxc: only). Never show the raw HTML of another server.
	FormattedBody string
	// ReplyTo is the event this message replies to ("" for none; a
	// thread's fallback reply does not count).
	ReplyTo string
	// ThreadRoot is the root of the thread the message is in ("" for none).
	ThreadRoot string
	// Mentions are the users the message mentions (m.mentions.user_ids);
	// MentionsRoom is an @room mention.
	Mentions     []string
	MentionsRoom bool
	// Edited is true when a valid edit replaces the content: MsgType,
	// Body, Format and FormattedBody are then the latest edit's, EditID
	// and EditedAt say which and when. The original is never rewritten.
	Edited   bool
	EditID   string
	EditedAt time.Time
	// Deleted is true once the message was redacted: Body and the other
	// contents are empty then.
	Deleted bool
	// Reactions are the message's reactions, by key in order of first use.
	Reactions []ReactionCount
	Timestamp time.Time // origin_server_ts
	// StreamPos orders messages as this server stored them.
	StreamPos int64
	// Backfilled is true for history fetched after joining a room (what
	// was said before, e.g. while an invite was pending).
	Backfilled bool
}

// Membership is a change of one user's membership of a room.
type Membership struct {
	RoomID     string
	EventID    string
	UserID     string // whose membership changed
	Sender     string // who changed it
	Membership string // "invite", "join", "leave", "ban"
	// Change says what happened: "invite", "join", "leave", "kick", "ban",
	// "unban", "invite_rejected", "invite_revoked" or "profile". On
	// "ban" and "kick" the host should drop the room from that user's list.
	Change string
	Reason string
}

// Invite is an invite of one of our users into a room.
type Invite struct {
	RoomID      string
	EventID     string
	Inviter     string // full Matrix user ID
	Invitee     string // full Matrix user ID of our user
	RoomVersion string
	RoomName    string // from the invite's room state, when given
	RoomTopic   string // likewise
	IsDirect    bool   // the invite is to a DM
	State       string // "pending", "accepted", "rejected" or "revoked"
	Created     time.Time
	Updated     time.Time
}

// RoomChange is a new room name or topic.
type RoomChange struct {
	RoomID  string
	EventID string
	Sender  string
	Value   string
}

// RoleChange is a user moved to another host role by a power-levels event.
type RoleChange struct {
	RoomID   string
	EventID  string
	Sender   string
	UserID   string
	OldRole  string
	NewRole  string
	OldLevel int64
	NewLevel int64
}
