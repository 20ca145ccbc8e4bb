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
