package homeserver

import (
	"errors"

	"github.com/embedmatrix/homeserver/federation"
	"github.com/embedmatrix/homeserver/invites"
	"github.com/embedmatrix/homeserver/powerlevels"
	"github.com/embedmatrix/homeserver/relations"
	"github.com/embedmatrix/homeserver/rooms"
)

// Every error a host matches with errors.Is is declared here, so a host
// imports only this package. Some are the root's own; the others are the
// sentinels of the packages below, re-exported under the same value (an
// error from deep inside still matches the root name).
var (
	// ErrInvalidUserID: a user ID is not @localpart:server.
	ErrInvalidUserID = errors.New("homeserver: invalid user ID")
	// ErrNotInvited: there is no pending invite to accept.
	ErrNotInvited = errors.New("homeserver: no pending invite")
	// ErrBanned: the user is banned from the room.
	ErrBanned = errors.New("homeserver: user is banned from the room")
	// ErrNotBanned: an unban of a user who is not banned.
	ErrNotBanned = errors.New("homeserver: user is not banned from the room")
	// ErrNotInviter: only the user who sent an invite, or someone allowed
	// to kick, may revoke it.
	ErrNotInviter = errors.New("homeserver: only the inviter or a user with kick power may revoke an invite")
	// ErrNotJoined: the local user is not joined to the room.
	ErrNotJoined = errors.New("homeserver: user is not joined to the room")
	// ErrUnsupportedRoomType is returned when the host asks for a federated
	// room this library does not support: encrypted, read-only or broadcast.
	ErrUnsupportedRoomType = errors.New("homeserver: encrypted, read-only and broadcast rooms cannot be federated")
	// ErrEventTypeNotAllowed: SendEvent refuses event types that have their
	// own lifecycle or are out of scope: m.room.create, m.room.member
	// (CreateRoom, Invite, Join, Leave, Kick, Ban), m.room.redaction
	// (Redact), m.room.encryption and m.room.encrypted.
	ErrEventTypeNotAllowed = errors.New("homeserver: event type not allowed here")
	// ErrInvalidContent: a message or event content the library will not
	// send (an empty body, an unknown msgtype, content that is not a JSON
	// object...).
	ErrInvalidContent = errors.New("homeserver: invalid content")
	// ErrInvalidPresence: SetPresence was given a presence other than
	// "online", "unavailable" and "offline", or a status message that is
	// not UTF-8 or longer than 1024 bytes.
	ErrInvalidPresence = errors.New("homeserver: invalid presence")
	// ErrInvalidAlias: a room alias is not #localpart:server, or is not
	// one of this server's where only ours will do (SetAlias,
	// RemoveAlias).
	ErrInvalidAlias = errors.New("homeserver: invalid room alias")
	// ErrAliasTaken: the alias already names another room.
	ErrAliasTaken = errors.New("homeserver: room alias already taken")
	// ErrUnknownAlias: the alias names no room (here, or on its server).
	ErrUnknownAlias = errors.New("homeserver: unknown room alias")
)

// Sentinels of the packages below the root, re-exported.
var (
	// ErrUnknownRoom: this server is not in the room.
	ErrUnknownRoom = rooms.ErrUnknownRoom
	// ErrUnknownEvent: the event is not one this server holds in that room.
	ErrUnknownEvent = rooms.ErrUnknownEvent
	// ErrForbidden: the Matrix auth rules do not allow the action. A role
	// change the sender's power does not allow matches it too (and
	// ErrRoleNotAllowed).
	ErrForbidden = rooms.ErrNotAllowed
	// ErrRoleNotAllowed: the sender's power level does not allow a role
	// or power-level change (SetRole). Such an error matches ErrForbidden
	// as well.
	ErrRoleNotAllowed = powerlevels.ErrNotAllowed
	// ErrUnsupportedRoomVersion: the room's version is not 10, 11 or 12.
	ErrUnsupportedRoomVersion = rooms.ErrUnsupportedRoomVersion
	// ErrUnreachable: another server could not be reached.
	ErrUnreachable = federation.ErrUnreachable
	// ErrNotACommand: the text is not a /federation command at all.
	ErrNotACommand = invites.ErrNotACommand
	// ErrUsage: a malformed /federation command; the message ends with the
	// usage line.
	ErrUsage = invites.ErrUsage
	// ErrUnknownRole: a role the Config.Roles mapping does not have.
	ErrUnknownRole = powerlevels.ErrUnknownRole
	// ErrInvalidEdit: an edit the spec calls invalid (of a state event, of
	// an edit, changing the event type...). Editing another user's
	// message matches ErrForbidden too.
	ErrInvalidEdit = relations.ErrInvalidEdit
	// ErrDuplicateAnnotation: the user already reacted to the event with
	// that key (the client-server API's M_DUPLICATE_ANNOTATION).
	ErrDuplicateAnnotation = relations.ErrDuplicateAnnotation
	// ErrInvalidReaction: a reaction with an empty or too long key, or to
	// an event that cannot be reacted to (an edit, a reaction).
	ErrInvalidReaction = relations.ErrInvalidReaction
	// ErrInvalidThreadRoot: a thread cannot start from that event (it is
	// itself in a thread or has another relation).
	ErrInvalidThreadRoot = relations.ErrInvalidThreadRoot
	// ErrInvalidPageToken: a PublicRooms since token this server never
	// issued.
	ErrInvalidPageToken = federation.ErrInvalidSince
)

// RemoteError is another server's refusal: it answered with an HTTP
// status and (usually) a Matrix errcode such as M_FORBIDDEN. Match it with
// errors.As.
type RemoteError = federation.RemoteError

// Knocking sentinels.
var (
	// ErrNotKnockable: the room's join rule is not "knock", so knocking on
	// it is refused.
	ErrNotKnockable = errors.New("homeserver: the room does not take knocks")
	// ErrNotKnocking: the user has no pending knock on the room to accept
	// or refuse.
	ErrNotKnocking = errors.New("homeserver: no pending knock")
	// ErrInvalidJoinRule: CreateRoomRequest.JoinRule is not "public",
	// "invite" or "knock", or is not "invite" for a DM or group.
	ErrInvalidJoinRule = errors.New("homeserver: invalid join rule")
)
