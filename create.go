package homeserver

import (
	"context"
	"fmt"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/federation"
	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/invites"
	"github.com/embedmatrix/homeserver/powerlevels"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// RoomKind is what a room is for the host.
type RoomKind string

// Room kinds.
const (
	KindChannel RoomKind = "channel" // a named room, public or invite-only
	KindDM      RoomKind = "dm"      // a 1:1 direct message
	KindGroup   RoomKind = "group"   // a direct message between several users
)

// RoomTypeSpace is the room type of a space (CreateRoomRequest.Type).
const RoomTypeSpace = federation.SpaceRoomType

// direct reports whether the kind is a DM or a group DM.
func (k RoomKind) direct() bool { return k == KindDM || k == KindGroup }

// CreateRoomRequest describes a new federated room.
type CreateRoomRequest struct {
	Creator string // local user name ("alice") or full ID of a local user
	// Kind is channel (default), dm (exactly one user in Invite) or group.
	Kind  RoomKind
	Name  string
	Topic string
	// Public makes a channel's join rule "public"; otherwise "invite".
	Public bool
	// JoinRule, when set, is a channel's join rule: "public", "invite" or
	// "knock" (users ask to be invited: Knock, AcceptKnock). It overrides
	// Public; DMs and groups take only "invite".
	JoinRule string
	// Version overrides Config.DefaultRoomVersion ("10", "11" or "12").
	Version string
	// Type is a channel's room type, the m.room.create "type": RoomTypeSpace
	// makes a space (its children are m.space.child state events, sent
	// with SendEvent). "" is a plain room. A DM or group with a type
	// fails with ErrUnsupportedRoomType.
	// https://spec.matrix.org/v1.16/client-server-api/#types
	Type string
	// Invite lists users (full Matrix IDs) to invite once the room exists.
	Invite []string
	// Encrypted, ReadOnly and Broadcast rooms cannot be federated: asking
	// for one fails with ErrUnsupportedRoomType.
	Encrypted, ReadOnly, Broadcast bool
}

// CreateRoom creates a federated room with the creator as owner and
// invites the users in req.Invite. A DM's or group's members are all
// owners (there is no one to moderate them) and their invites carry
// is_direct. It returns the room ID; when an invite fails the room still
// exists and the error says which invite failed.
func (s *Server) CreateRoom(ctx context.Context, req CreateRoomRequest) (string, error) {
	if req.Encrypted || req.ReadOnly || req.Broadcast {
		return "", ErrUnsupportedRoomType
	}
	creator, err := s.UserID(req.Creator)
	if err != nil {
		return "", err
	}
	if req.Kind == "" {
		req.Kind = KindChannel
	}
	var targets []string
	for _, u := range req.Invite {
		id, err := ids.ParseUserID(u)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrInvalidUserID, err)
		}
		if id.String() != creator {
			targets = append(targets, id.String())
		}
	}
	switch req.Kind {
	case KindChannel:
	case KindDM:
		if len(targets) != 1 {
			return "", fmt.Errorf("%w: a DM needs exactly one other user, got %d", ErrInvalidUserID, len(targets))
		}
	case KindGroup:
		if len(targets) < 1 {
			return "", fmt.Errorf("%w: a group DM needs other users", ErrInvalidUserID)
		}
	default:
		return "", fmt.Errorf("homeserver: unknown room kind %q", req.Kind)
	}
	if req.Type != "" && req.Kind != KindChannel {
		return "", fmt.Errorf("%w: a %s cannot have the room type %q", ErrUnsupportedRoomType, req.Kind, req.Type)
	}
	version := req.Version
	if version == "" {
		version = s.cfg.DefaultRoomVersion
	}
	joinRule, err := req.joinRule()
	if err != nil {
		return "", err
	}
	pl, err := s.roles.DefaultContent(powerlevels.Room{Version: version, Creators: []string{creator}})
	if err != nil {
		return "", err
	}
	direct := req.Kind.direct()
	if direct {
		// Every member of a DM is an owner.
		owner, _ := s.roles.Level(powerlevels.RoleOwner)
		for _, t := range targets {
			if pl, err = powerlevels.SetLevel(powerlevels.Room{Version: version, Creators: []string{creator}}, pl, creator, t, owner); err != nil {
				return "", fmt.Errorf("homeserver: power levels for %s: %w", t, err)
			}
		}
	}
	extra := map[string]any{content.KindKey: string(req.Kind)}
	if req.Type != "" {
		extra["type"] = req.Type
	}
	roomID, err := s.rooms.CreateRoom(ctx, rooms.CreateRequest{
		Creator: creator, Version: version, Name: req.Name, Topic: req.Topic, JoinRule: joinRule,
		PowerLevels: pl, ExtraContent: extra,
		CreatorMember: s.joinProfile(ctx, creator),
	})
	if err != nil {
		return "", err
	}
	for _, t := range targets {
		if err := s.invite(ctx, roomID, creator, t, direct); err != nil {
			return roomID, fmt.Errorf("homeserver: room %s created, but inviting %s failed: %w", roomID, t, err)
		}
	}
	return roomID, nil
}

// joinRule is the m.room.join_rules value the request asks for.
// https://spec.matrix.org/v1.16/client-server-api/#mroomjoin_rules
func (req CreateRoomRequest) joinRule() (string, error) {
	switch req.JoinRule {
	case "":
		if req.Public && req.Kind == KindChannel {
			return spec.Public, nil
		}
		return spec.Invite, nil
	case spec.Invite:
		return spec.Invite, nil
	case spec.Public, spec.Knock:
		if req.Kind != KindChannel {
			return "", fmt.Errorf("%w: a %s takes only the invite join rule", ErrInvalidJoinRule, req.Kind)
		}
		return req.JoinRule, nil
	}
	return "", fmt.Errorf("%w: %q", ErrInvalidJoinRule, req.JoinRule)
}

// ParseUserID checks a federated user ID, @user:server.domain, where the
// server may carry a port or be an IPv4 or bracketed IPv6 literal.
func ParseUserID(s string) (string, error) {
	id, err := ids.ParseUserID(s)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidUserID, err)
	}
	return id.String(), nil
}

// Command runs the host's "/federation dm @a:s1 [@b:s2 ...]" command for a
// local user: one user makes a 1:1 DM, several a group DM. It returns the
// new room's ID. Text that is not a /federation command fails with an
// error matching ErrNotACommand; a malformed one with ErrUsage
// (whose message ends with the usage line).
func (s *Server) Command(ctx context.Context, sender, text string) (string, error) {
	req, err := invites.ParseCommand(text)
	if err != nil {
		return "", err
	}
	kind := KindDM
	if req.Group {
		kind = KindGroup
	}
	users := make([]string, len(req.Users))
	for i, u := range req.Users {
		users[i] = u.String()
	}
	return s.CreateRoom(ctx, CreateRoomRequest{Creator: sender, Kind: kind, Invite: users})
}
