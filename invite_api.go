package homeserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Invite invites a user, local or on another server, into a room. For a
// remote user the invitee's server co-signs the invite first (v2 invite),
// then it is stored and sent to the room's servers.
func (s *Server) Invite(ctx context.Context, roomID, inviter, invitee string) error {
	from, err := s.UserID(inviter)
	if err != nil {
		return err
	}
	target, err := spec.NewUserID(invitee, true)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrInvalidUserID, invitee, err)
	}
	sk := target.String()
	ev, err := s.rooms.BuildEvent(ctx, roomID, from, spec.MRoomMember, &sk, map[string]any{"membership": spec.Invite})
	if err != nil {
		return err
	}
	if target.Domain() == s.name {
		return s.rooms.PersistLocal(ctx, ev)
	}
	state, err := s.rooms.InviteState(ctx, roomID, from)
	if err != nil {
		return err
	}
	res, err := s.client.SendInvite(ctx, target.Domain(), ev, state)
	if err != nil {
		return fmt.Errorf("homeserver: invite %s: %w", invitee, err)
	}
	signed, err := rooms.Parse(string(ev.Version()), res.Event)
	if err != nil {
		return fmt.Errorf("homeserver: invitee's server returned a bad event: %w", err)
	}
	if signed.EventID() != ev.EventID() {
		return fmt.Errorf("homeserver: invitee's server changed the invite event")
	}
	if err := s.rooms.VerifySignatures(ctx, signed); err != nil {
		return fmt.Errorf("homeserver: invite not co-signed: %w", err)
	}
	if err := s.rooms.PersistLocal(ctx, signed); err != nil {
		return err
	}
	t := now().UnixMilli()
	return s.store.PutInvite(ctx, storage.Invite{
		RoomID: roomID, UserID: sk, Inviter: from, Direction: storage.InviteOutbound,
		EventID: signed.EventID(), RoomVersion: string(ev.Version()), EventJSON: signed.JSON(),
		RoomState: []byte("[]"), State: storage.InvitePending, CreatedTS: t, UpdatedTS: t,
	})
}

// Invites returns the invites a local user received, newest first.
func (s *Server) Invites(ctx context.Context, user string) ([]Invite, error) {
	uid, err := s.UserID(user)
	if err != nil {
		return nil, err
	}
	invs, err := s.store.Invites(ctx, uid)
	if err != nil {
		return nil, err
	}
	out := make([]Invite, 0, len(invs))
	for _, inv := range invs {
		if inv.Direction == storage.InviteInbound {
			out = append(out, inviteOf(inv))
		}
	}
	return out, nil
}

// AcceptInvite joins a local user to a room they were invited to: a
// make_join and v2 send_join through the inviting server.
func (s *Server) AcceptInvite(ctx context.Context, roomID, user string) error {
	uid, err := s.UserID(user)
	if err != nil {
		return err
	}
	inv, err := s.store.Invite(ctx, roomID, uid)
	if errors.Is(err, storage.ErrNotFound) || err == nil && (inv.Direction != storage.InviteInbound || inv.State != storage.InvitePending) {
		return fmt.Errorf("%w: %s in %s", ErrNotInvited, uid, roomID)
	}
	if err != nil {
		return err
	}
	via, err := rooms.ServerOf(inv.Inviter)
	if err != nil {
		return err
	}
	if err := s.joinVia(ctx, roomID, uid, via); err != nil {
		return err
	}
	return s.store.SetInviteState(ctx, roomID, uid, storage.InviteAccepted, now().UnixMilli())
}
