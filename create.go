package homeserver

import (
	"context"

	"github.com/embedmatrix/homeserver/rooms"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// CreateRoomRequest describes a new federated room.
type CreateRoomRequest struct {
	Creator string // local user name ("alice") or full ID of a local user
	Name    string
	Topic   string
	// Public makes the join rule "public"; otherwise it is "invite".
	Public bool
	// Version overrides Config.DefaultRoomVersion ("10", "11" or "12").
	Version string
}

// CreateRoom creates a room with the creator joined at power 100.
func (s *Server) CreateRoom(ctx context.Context, req CreateRoomRequest) (string, error) {
	creator, err := s.UserID(req.Creator)
	if err != nil {
		return "", err
	}
	version := req.Version
	if version == "" {
		version = s.cfg.DefaultRoomVersion
	}
	joinRule := spec.Invite
	if req.Public {
		joinRule = spec.Public
	}
	return s.rooms.CreateRoom(ctx, rooms.CreateRequest{
		Creator: creator, Version: version, Name: req.Name, Topic: req.Topic, JoinRule: joinRule,
	})
}
