package ephemeral

import (
	"context"
	"errors"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Why an inbound receipt or typing notification is refused.
var (
	// ErrWrongOrigin: the user does not belong to the server that sent the EDU.
	ErrWrongOrigin = errors.New("ephemeral: user is not on the sending server")
	// ErrNotJoined: the user is not joined to the room (current state).
	ErrNotJoined = errors.New("ephemeral: user is not joined to the room")
	// ErrServerDenied: the room's server ACL does not allow the sending server.
	ErrServerDenied = errors.New("ephemeral: sending server denied by the room's server ACL")
)

// RoomView is what the inbound checks need to know about a room.
type RoomView interface {
	// Membership returns the user's membership in the room's current state
	// ("join", "leave"...), or "" when the user has none or the room is
	// unknown.
	Membership(ctx context.Context, roomID, userID string) (string, error)
	// CheckServerACL returns an error when the room's server ACL denies
	// the server.
	CheckServerACL(ctx context.Context, roomID string, server spec.ServerName) error
}

// Admit checks an inbound receipt or typing notification of userID in
// roomID, sent by origin. The spec: "Receiving servers should verify that
// the user is in the room, and is a user belonging to the sending server."
// The room's server ACL applies to EDUs as it does to PDUs.
func Admit(ctx context.Context, v RoomView, origin spec.ServerName, roomID, userID string) error {
	u, err := spec.NewUserID(userID, true)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrWrongOrigin, userID, err)
	}
	if u.Domain() != origin {
		return fmt.Errorf("%w: %s from %s", ErrWrongOrigin, userID, origin)
	}
	if err := v.CheckServerACL(ctx, roomID, origin); err != nil {
		return fmt.Errorf("%w: %s in %s: %w", ErrServerDenied, origin, roomID, err)
	}
	m, err := v.Membership(ctx, roomID, userID)
	if err != nil {
		return fmt.Errorf("ephemeral: membership of %s in %s: %w", userID, roomID, err)
	}
	if m != spec.Join {
		return fmt.Errorf("%w: %s in %s", ErrNotJoined, userID, roomID)
	}
	return nil
}
