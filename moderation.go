package homeserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/powerlevels"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// BannedUser is a user banned from a room, with the ban's reason.
type BannedUser struct {
	UserID string
	Reason string
	By     string
}

// Ban bans a user (local or remote) from a room with a reason: they are
// removed, cannot rejoin and cannot be invited until unbanned.
func (s *Server) Ban(ctx context.Context, roomID, sender, target, reason string) error {
	return s.setMembership(ctx, roomID, sender, target, spec.Ban, reason)
}

// Unban lifts a ban; the user may then be invited again.
func (s *Server) Unban(ctx context.Context, roomID, sender, target string) error {
	if m, err := s.membershipOf(ctx, roomID, target); err != nil {
		return err
	} else if m != spec.Ban {
		return fmt.Errorf("%w: %s in %s", ErrNotBanned, target, roomID)
	}
	return s.setMembership(ctx, roomID, sender, target, spec.Leave, "")
}

// Kick removes a user from a room with a reason; they may rejoin if the
// room's rules let them.
func (s *Server) Kick(ctx context.Context, roomID, sender, target, reason string) error {
	if m, err := s.membershipOf(ctx, roomID, target); err != nil {
		return err
	} else if m != spec.Join && m != spec.Invite {
		return fmt.Errorf("%w: %s is not in %s", ErrNotJoined, target, roomID)
	}
	return s.setMembership(ctx, roomID, sender, target, spec.Leave, reason)
}

func (s *Server) setMembership(ctx context.Context, roomID, sender, target, membership, reason string) error {
	from, err := s.UserID(sender)
	if err != nil {
		return err
	}
	// The target may be a remote user with a historical ID.
	if _, err := ids.ParseHistoricalUserID(target); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidUserID, err)
	}
	content := map[string]any{"membership": membership}
	if reason != "" {
		content["reason"] = reason
	}
	sk := target
	_, err = s.rooms.Send(ctx, roomID, from, spec.MRoomMember, &sk, content)
	return err
}

// Banned lists who is banned from a room, with the reasons.
func (s *Server) Banned(ctx context.Context, roomID string) ([]BannedUser, error) {
	state, err := s.store.CurrentState(ctx, roomID)
	if err != nil {
		return nil, err
	}
	var out []BannedUser
	for _, ev := range state {
		if ev.Type != spec.MRoomMember || ev.StateKey == nil {
			continue
		}
		if c := content.MemberOf(ev.JSON); c.Membership == spec.Ban {
			out = append(out, BannedUser{UserID: *ev.StateKey, Reason: c.Reason, By: ev.Sender})
		}
	}
	return out, nil
}

// room returns what powerlevels needs to know about a room.
func (s *Server) plRoom(ctx context.Context, roomID string) (powerlevels.Room, []byte, error) {
	version, err := s.rooms.RoomVersion(ctx, roomID)
	if err != nil {
		return powerlevels.Room{}, nil, err
	}
	r := powerlevels.Room{Version: version}
	create, err := s.store.StateEvent(ctx, roomID, spec.MRoomCreate, "")
	if err != nil {
		return r, nil, fmt.Errorf("homeserver: room %s has no create event: %w", roomID, err)
	}
	cc, _ := content.ParseCreate(content.Of(create.JSON))
	r.Creators = append([]string{create.Sender}, cc.AdditionalCreators...)
	var levels []byte
	if pl, err := s.store.StateEvent(ctx, roomID, spec.MRoomPowerLevels, ""); err == nil {
		levels = content.Of(pl.JSON)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return r, nil, err
	}
	return r, levels, nil
}

// Role returns a user's host role in a room, read from its power levels by
// threshold (Config.Roles).
func (s *Server) Role(ctx context.Context, roomID, userID string) (string, error) {
	r, content, err := s.plRoom(ctx, roomID)
	if err != nil {
		return "", err
	}
	levels, err := powerlevels.Parse(r, content)
	if err != nil {
		return "", err
	}
	return string(s.roles.RoleFor(levels.UserLevel(userID))), nil
}

// SetRole gives a user a host role in a room by changing its power levels.
// A change the sender's power does not allow is refused before anything is
// sent (the error matches ErrForbidden and ErrRoleNotAllowed).
func (s *Server) SetRole(ctx context.Context, roomID, sender, target, role string) error {
	from, err := s.UserID(sender)
	if err != nil {
		return err
	}
	r, content, err := s.plRoom(ctx, roomID)
	if err != nil {
		return err
	}
	next, err := s.roles.SetRole(r, content, from, target, powerlevels.Role(role))
	if errors.Is(err, powerlevels.ErrUnchanged) {
		return nil
	}
	if errors.Is(err, powerlevels.ErrNotAllowed) {
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	if err != nil {
		return err
	}
	empty := ""
	_, err = s.rooms.Send(ctx, roomID, from, spec.MRoomPowerLevels, &empty, next)
	return err
}

// canKick reports whether a user's power reaches the room's kick level.
func (s *Server) canKick(ctx context.Context, roomID, userID string) (bool, error) {
	r, content, err := s.plRoom(ctx, roomID)
	if err != nil {
		return false, err
	}
	levels, err := powerlevels.Parse(r, content)
	if err != nil {
		return false, err
	}
	return levels.UserLevel(userID) >= levels.Content.Kick, nil
}

// onPowerLevelsAccepted tells the host, through OnRoleChange, which users
// a remote power-levels change moved to another role.
func (s *Server) onPowerLevelsAccepted(a rooms.Accepted) {
	ev := a.Event
	if s.cfg.Hooks.OnRoleChange == nil || !ev.StateKeyEquals("") {
		return
	}
	var old []byte
	if a.Replaced != nil {
		old = a.Replaced.Content()
	}
	roomID, eventID, sender, next := ev.RoomID().String(), ev.EventID(), string(ev.SenderID()), ev.Content()
	s.hooks.push(func(ctx context.Context) { s.announceRoleChanges(ctx, roomID, eventID, sender, old, next) })
}

// announceRoleChanges tells the host which users a power-levels change
// moved to another role (by threshold), including users dropped from
// "users" and a changed users_default.
func (s *Server) announceRoleChanges(ctx context.Context, roomID, eventID, sender string, old, next []byte) {
	r, _, err := s.plRoom(ctx, roomID)
	if err != nil {
		return
	}
	var members []string
	if state, err := s.store.CurrentState(ctx, roomID); err == nil {
		for _, e := range state {
			if e.Type == spec.MRoomMember && e.StateKey != nil {
				if m := content.MemberOf(e.JSON).Membership; m == spec.Join || m == spec.Invite {
					members = append(members, *e.StateKey)
				}
			}
		}
	}
	changes, err := s.roles.Diff(r, old, next, members)
	if err != nil {
		s.log.Info("could not read a power-levels change", "room_id", roomID, "err", err)
		return
	}
	for _, c := range changes {
		s.cfg.Hooks.OnRoleChange(ctx, RoleChange{RoomID: roomID, EventID: eventID, Sender: sender, UserID: c.UserID,
			OldRole: string(c.OldRole), NewRole: string(c.NewRole), OldLevel: c.OldLevel, NewLevel: c.NewLevel})
	}
}
