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
}

// Message is a chat message in a room.
type Message struct {
	RoomID    string
	EventID   string
	Sender    string // full Matrix user ID
	MsgType   string // "m.text", "m.notice", ...
	Body      string
	Timestamp time.Time // origin_server_ts
	// StreamPos orders messages as this server stored them.
	StreamPos int64
}

// Membership is a change of one user's membership of a room.
type Membership struct {
	RoomID     string
	EventID    string
	UserID     string // whose membership changed
	Sender     string // who changed it
	Membership string // "invite", "join", "leave", "ban"
	Reason     string
}

// Invite is an invite of one of our users into a room.
type Invite struct {
	RoomID      string
	EventID     string
	Inviter     string // full Matrix user ID
	Invitee     string // full Matrix user ID of our user
	RoomVersion string
	RoomName    string // from the invite's room state, when given
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
