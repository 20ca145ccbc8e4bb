package homeserver

import (
	"errors"

	"github.com/embedmatrix/homeserver/federation"
	"github.com/embedmatrix/homeserver/invites"
	"github.com/embedmatrix/homeserver/powerlevels"
	"github.com/embedmatrix/homeserver/rooms"
)

// Sentinel errors a host can match with errors.Is.
var (
	// ErrInvalidUserID: a user ID is not @localpart:server.
	ErrInvalidUserID = errors.New("homeserver: invalid user ID")
	// ErrNotInvited: there is no pending invite to accept.
	ErrNotInvited = errors.New("homeserver: no pending invite")
	// ErrUnknownRoom: this server is not in the room.
	ErrUnknownRoom = rooms.ErrUnknownRoom
	// ErrForbidden: the Matrix auth rules do not allow the action.
	ErrForbidden = rooms.ErrNotAllowed
	// ErrUnsupportedRoomVersion: the room's version is not 10, 11 or 12.
	ErrUnsupportedRoomVersion = rooms.ErrUnsupportedRoomVersion
)

// More errors a host can match: they come from the packages below the
// root, re-exported so a host imports only this one.
var (
	// ErrNotBanned: an unban of a user who is not banned.
	ErrNotBanned = errors.New("homeserver: user is not banned from the room")
	// ErrUnreachable: another server could not be reached.
	ErrUnreachable = federation.ErrUnreachable
	// ErrNotACommand: the text is not a /federation command at all.
	ErrNotACommand = invites.ErrNotACommand
	// ErrUsage: a malformed /federation command; the message ends with the
	// usage line.
	ErrUsage = invites.ErrUsage
	// ErrUnknownRole: a role the Config.Roles mapping does not have.
	ErrUnknownRole = powerlevels.ErrUnknownRole
)

// RemoteError is another server's refusal: it answered with an HTTP
// status and (usually) a Matrix errcode such as M_FORBIDDEN. Match it with
// errors.As.
type RemoteError = federation.RemoteError
