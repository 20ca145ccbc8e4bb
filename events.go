package homeserver

import (
	"encoding/json"
	"time"

	"github.com/embedmatrix/homeserver/relations"
)

// MessageContent is a message a local user sends (Send) or the new
// content of an edit (Edit).
type MessageContent struct {
	// MsgType is "m.text" (the default), "m.notice" or "m.emote".
	MsgType string
	// Body is the plain text; it must not be empty.
	Body string
	// FormattedBody is HTML, sent as org.matrix.custom.html. The host's
	// own HTML is sent as given; other servers sanitise it on the way in.
	FormattedBody string
	// ReplyTo is the event this message replies to. A reply to a thread
	// message goes in that thread.
	ReplyTo string
	// ThreadRoot puts the message in the thread of that event, with the
	// fallback reply unthreaded clients show.
	ThreadRoot string
	// Mentions are mentioned user IDs (m.mentions.user_ids).
	Mentions []string
	// MentionRoom mentions the whole room (@room).
	MentionRoom bool
}

// ReactionCount is one key's reactions to a message: how many users
// reacted with Key, and who, in the order they did.
type ReactionCount = relations.ReactionCount

// Edit is a remote user's valid edit of a message.
type Edit struct {
	RoomID  string
	EventID string // the edit's own event ID
	Target  string // the edited message
	Sender  string
	// MsgType, Body, Format and FormattedBody (sanitised, as in Message)
	// are the new content.
	MsgType       string
	Body          string
	Format        string
	FormattedBody string
	Mentions      []string
	Timestamp     time.Time
}

// Redaction is a remote redaction that was applied: Target's content is
// gone from the store.
type Redaction struct {
	RoomID  string
	EventID string // the m.room.redaction event
	Target  string // the deleted event
	Sender  string // who redacted it
	Reason  string
	// TargetType and TargetSender say what was deleted: "m.room.message"
	// by a user, "m.reaction" (OnReaction reports the removal too), an
	// edit (the message shows its previous edit again), a state event...
	TargetType   string
	TargetSender string
	Timestamp    time.Time
}

// Reaction is a reaction (m.annotation) added to a message, or removed
// when Removed is true (EventID is then the reaction, RemovedBy the
// redaction).
type Reaction struct {
	RoomID    string
	EventID   string // the m.reaction event
	Target    string // the message reacted to
	Sender    string
	Key       string // e.g. "👍"
	Removed   bool
	RemovedBy string
	Timestamp time.Time
}

// Event is any accepted remote event no other hook covers.
type Event struct {
	RoomID   string
	EventID  string
	Type     string
	StateKey *string // nil for a message event
	Sender   string
	Content  json.RawMessage
	// StreamPos orders events as this server stored them.
	StreamPos int64
	Timestamp time.Time
}

// Relations are what relates to one event: its valid edits, oldest first,
// its reactions, and the messages of the thread it is the root of.
type Relations struct {
	Edits     []Edit
	Reactions []ReactionCount
	// Thread are the event IDs of the thread's messages, oldest first.
	Thread []string
}

// Message is a chat message in a room. Read through Messages or Message,
// it shows its latest valid edit, whether it was deleted and its
// reactions; in Hooks.OnMessage it is the message as it arrived, except
// for history fetched after joining (Backfilled), which comes as stored:
// possibly Deleted or edited already.
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
	// SenderName is the sender's display name in the room (from their
	// current m.room.member event), "" when they have none.
	SenderName string
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
	// DisplayName and AvatarURL are the user's profile in the room as
	// the event sets it ("" for none).
	DisplayName string
	AvatarURL   string
	// Changed says what a "profile" change changed: "displayname",
	// "avatar_url" or both; nil for other changes.
	Changed []string
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

// Presence is a user's presence: whether they are online, and their status
// message.
type Presence struct {
	UserID    string // full Matrix user ID
	Presence  string // "online", "unavailable" or "offline"
	StatusMsg string
	// LastActive is when the user last did something, as their server
	// says (zero when unknown).
	LastActive time.Time
	// CurrentlyActive is true when the user's server says they are
	// interacting now (then LastActive may lag).
	CurrentlyActive bool
	// Expired is true when the library, not the user's server, changed
	// the presence: online to unavailable after 5 minutes idle, or to
	// offline after 30 minutes without word from their server.
	Expired bool
}

// Knock is a user's request to be invited into a room (join rule
// "knock"), as the room's side sees it (Knocks, Hooks.OnKnock with State
// "pending") and as the knocker's side follows it (MyKnocks, Hooks.OnKnock
// with State "accepted" or "refused").
type Knock struct {
	RoomID  string
	EventID string // the knock's m.room.member event
	UserID  string // the knocking user
	Reason  string // what the knocker said
	// State is KnockPending, KnockAccepted (an invite came: accept it with
	// AcceptInvite) or KnockRefused.
	State string
	// By is who accepted or refused the knock; Outcome its reason (a
	// refusal's) and OutcomeEventID the invite or leave event.
	By, Outcome, OutcomeEventID string
	TS                          time.Time // when the knock was made
}
