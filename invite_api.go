package homeserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/invites"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Invite invites a user, local or on another server, into a room. For a
// remote user the invitee's server co-signs the invite first (v2 invite),
// then it is stored, sent to the room's servers, and tracked as pending.
// Inviting a banned user fails with ErrBanned and sends nothing.
// https://spec.matrix.org/v1.16/server-server-api/#inviting-to-a-room
func (s *Server) Invite(ctx context.Context, roomID, inviter, invitee string) error {
	from, err := s.UserID(inviter)
	if err != nil {
		return err
	}
	id, err := ids.ParseHistoricalUserID(invitee)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidUserID, err)
	}
	return s.invite(ctx, roomID, from, id.String(), s.kindOf(ctx, roomID).direct())
}

// membershipOf returns a user's current membership of a room ("" if none).
func (s *Server) membershipOf(ctx context.Context, roomID, userID string) (string, error) {
	ev, err := s.store.StateEvent(ctx, roomID, spec.MRoomMember, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return content.MemberOf(ev.JSON).Membership, nil
}

func (s *Server) invite(ctx context.Context, roomID, from, invitee string, direct bool) error {
	target, err := spec.NewUserID(invitee, true)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrInvalidUserID, invitee, err)
	}
	if m, err := s.membershipOf(ctx, roomID, invitee); err != nil {
		return err
	} else if m == spec.Ban {
		return fmt.Errorf("%w: %s in %s", ErrBanned, invitee, roomID)
	}
	content := s.inviteeProfile(ctx, target.String())
	content["membership"] = spec.Invite
	if direct {
		content["is_direct"] = true
	}
	sk := target.String()
	ev, err := s.rooms.BuildEvent(ctx, roomID, from, spec.MRoomMember, &sk, content)
	if err != nil {
		return err
	}
	t := now().UnixMilli()
	record := storage.Invite{
		RoomID: roomID, UserID: sk, Inviter: from, Direction: storage.InviteOutbound,
		EventID: ev.EventID(), RoomVersion: string(ev.Version()), EventJSON: ev.JSON(),
		RoomState: []byte("[]"), State: storage.InvitePending, CreatedTS: t, UpdatedTS: t,
	}
	if target.Domain() == s.name {
		if err := s.rooms.PersistLocal(ctx, ev); err != nil {
			return err
		}
		record.Direction = storage.InviteInbound
		if err := s.store.PutInvite(ctx, record); err != nil {
			return err
		}
		s.onInvite(record)
		return nil
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
	record.EventJSON = signed.JSON()
	if err := s.store.PutInvite(ctx, record); err != nil {
		return err
	}
	return s.rooms.PersistLocal(ctx, signed)
}

// Invites returns the invites a local user received, newest first, in
// every state.
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

// RoomInvites returns the invites into a room this server knows of, sent
// and received, newest first, with their states.
func (s *Server) RoomInvites(ctx context.Context, roomID string) ([]Invite, error) {
	invs, err := s.store.RoomInvites(ctx, roomID)
	if err != nil {
		return nil, err
	}
	out := make([]Invite, 0, len(invs))
	for _, inv := range invs {
		if inv.Direction != knockDirection { // a local user's knock (knock.go)
			out = append(out, inviteOf(inv))
		}
	}
	return out, nil
}

// pendingInbound loads the pending invite of a local user, with the
// user's full ID and the inviting server.
func (s *Server) pendingInbound(ctx context.Context, roomID, user string) (string, storage.Invite, spec.ServerName, error) {
	uid, err := s.UserID(user)
	if err != nil {
		return "", storage.Invite{}, "", err
	}
	inv, err := s.store.Invite(ctx, roomID, uid)
	if errors.Is(err, storage.ErrNotFound) || err == nil && (inv.Direction != storage.InviteInbound || inv.State != storage.InvitePending) {
		return "", storage.Invite{}, "", fmt.Errorf("%w: %s in %s", ErrNotInvited, uid, roomID)
	}
	if err != nil {
		return "", storage.Invite{}, "", err
	}
	via, err := ids.ServerOf(inv.Inviter)
	return uid, inv, via, err
}

// AcceptInvite joins a local user to a room they were invited to: a
// make_join and v2 send_join through the inviting server. The room's
// recent history (what was said while the invite was pending) is then
// fetched and reported through Hooks.OnMessage, marked Backfilled.
// https://spec.matrix.org/v1.16/server-server-api/#joining-rooms
func (s *Server) AcceptInvite(ctx context.Context, roomID, user string) error {
	uid, inv, via, err := s.pendingInbound(ctx, roomID, user)
	if err != nil {
		return err
	}
	if via == s.name {
		sk := uid
		join := s.joinProfile(ctx, uid)
		join["membership"] = spec.Join
		if _, err := s.rooms.Send(ctx, roomID, uid, spec.MRoomMember, &sk, join); err != nil {
			return err
		}
	} else {
		if err := s.joinVia(ctx, roomID, uid, via); err != nil {
			return err
		}
	}
	if err := s.setInviteState(ctx, inv, storage.InviteAccepted); err != nil {
		return err
	}
	if via != s.name {
		s.catchUp(ctx, roomID, via)
	}
	return nil
}

// catchUp fetches the history of a room just joined and tells the host.
// What the resident server hands out is bounded by the room's history
// visibility ("invited" and "shared" let an invitee read the pending time).
// https://spec.matrix.org/v1.16/client-server-api/#room-history-visibility
func (s *Server) catchUp(ctx context.Context, roomID string, via spec.ServerName) {
	evs, err := s.rooms.FetchHistory(ctx, via, roomID, 100)
	if err != nil {
		s.log.Info("could not fetch history after joining", "room_id", roomID, "err", err)
		return
	}
	h := s.cfg.Hooks.OnMessage
	if h == nil {
		return
	}
	for _, m := range s.historyMessages(ctx, roomID, evs) {
		m.Backfilled = true
		s.hooks.push(func(ctx context.Context) { h(ctx, m) })
	}
}

// RejectInvite declines an invite: a make_leave / send_leave through the
// inviting server so the room learns of it. When that server cannot be
// reached the invite is still marked rejected here, so the host is never
// stuck with it.
// https://spec.matrix.org/v1.16/server-server-api/#leaving-rooms-rejecting-invites
func (s *Server) RejectInvite(ctx context.Context, roomID, user string) error {
	uid, inv, via, err := s.pendingInbound(ctx, roomID, user)
	if err != nil {
		return err
	}
	if via == s.name {
		sk := uid
		if _, err := s.rooms.Send(ctx, roomID, uid, spec.MRoomMember, &sk, map[string]any{"membership": spec.Leave}); err != nil {
			return err
		}
	} else if err := s.leaveVia(ctx, roomID, uid, via); err != nil {
		s.log.Info("could not tell the inviting server; rejecting the invite locally", "room_id", roomID, "via", via, "err", err)
	}
	return s.setInviteState(ctx, inv, storage.InviteRejected)
}

// leaveVia sends a leave for uid through another server (make_leave,
// send_leave), for a room this server is not in.
// https://spec.matrix.org/v1.16/server-server-api/#leaving-rooms-rejecting-invites
func (s *Server) leaveVia(ctx context.Context, roomID, uid string, via spec.ServerName) error {
	ml, err := s.client.MakeLeave(ctx, via, roomID, uid)
	if err != nil {
		return fmt.Errorf("make_leave via %s: %w", via, err)
	}
	ev, err := s.rooms.SignTemplate(string(ml.RoomVersion), ml.LeaveEvent, roomID, uid, spec.Leave)
	if err != nil {
		return fmt.Errorf("make_leave via %s: %w", via, err)
	}
	return s.client.SendLeave(ctx, via, ev)
}

// RevokeInvite withdraws a pending invite: the revoker kicks the invitee.
// The kick goes to the room's servers and to the invitee's server. Only
// the original inviter, or a user whose power allows kicking, may revoke
// (ErrNotInviter); the Matrix auth rules must allow the kick too.
func (s *Server) RevokeInvite(ctx context.Context, roomID, revoker, invitee string) error {
	from, err := s.UserID(revoker)
	if err != nil {
		return err
	}
	if m, err := s.membershipOf(ctx, roomID, invitee); err != nil {
		return err
	} else if m != spec.Invite {
		return fmt.Errorf("%w: %s has no pending invite to %s", ErrNotInvited, invitee, roomID)
	}
	inv, err := s.store.Invite(ctx, roomID, invitee)
	inviter := ""
	if err == nil {
		inviter = inv.Inviter
	} else if ev, err := s.store.StateEvent(ctx, roomID, spec.MRoomMember, invitee); err == nil {
		inviter = ev.Sender
	}
	if from != inviter {
		can, err := s.canKick(ctx, roomID, from)
		if err != nil {
			return err
		}
		if !can {
			return fmt.Errorf("%w: %s", ErrNotInviter, from)
		}
	}
	sk := invitee
	ev, err := s.rooms.Send(ctx, roomID, from, spec.MRoomMember, &sk, map[string]any{"membership": spec.Leave, "reason": "invite revoked"})
	if err != nil {
		return err
	}
	// Show it revoked now, not only once the hook goroutine gets to it.
	if inv, err := s.store.Invite(ctx, roomID, invitee); err == nil && inv.State == storage.InvitePending {
		s.log.Debug("invite revoked", "room_id", roomID, "user_id", invitee, "event_id", ev.EventID())
		return s.setInviteState(ctx, inv, storage.InviteRevoked)
	}
	return nil
}

// setInviteState moves an invite and tells the host, once: moving an
// invite to the state it is already in does nothing.
func (s *Server) setInviteState(ctx context.Context, inv storage.Invite, state string) error {
	s.inviteMu.Lock()
	defer s.inviteMu.Unlock()
	if cur, err := s.store.Invite(ctx, inv.RoomID, inv.UserID); err == nil && cur.State == state {
		return nil
	}
	t := now().UnixMilli()
	if err := s.store.SetInviteState(ctx, inv.RoomID, inv.UserID, state, t); err != nil {
		return err
	}
	inv.State, inv.UpdatedTS = state, t
	if h := s.cfg.Hooks.OnInviteState; h != nil {
		i := inviteOf(inv)
		s.hooks.push(func(ctx context.Context) { h(ctx, i) })
	}
	return nil
}

// memberChange is an accepted m.room.member event, read once for the
// handlers that follow memberships (invites here, knocks in knock.go).
type memberChange struct {
	a                      rooms.Accepted
	roomID, sender, target string
	membership, prev       string
	replaced               string // the member event this one replaced
	content, prevContent   content.Member
	change                 invites.Change
}

// memberChangeOf reads an accepted member event; false for one without a
// state key or membership.
func memberChangeOf(a rooms.Accepted) (memberChange, bool) {
	ev := a.Event
	if ev.StateKey() == nil {
		return memberChange{}, false
	}
	membership, err := ev.Membership()
	if err != nil {
		return memberChange{}, false
	}
	c := memberChange{a: a, roomID: ev.RoomID().String(), sender: string(ev.SenderID()), target: *ev.StateKey(),
		membership: membership, content: memberContent(ev.Content())}
	if a.Replaced != nil {
		c.prev, _ = a.Replaced.Membership()
		c.replaced = a.Replaced.EventID()
		c.prevContent = memberContent(a.Replaced.Content())
	}
	c.change = invites.Classify(c.prev, membership, c.sender, c.target)
	return c, true
}

// onMemberAccepted follows an accepted m.room.member event: it moves the
// target's invite along its lifecycle, clears their typing when they are
// no longer joined, and (for remote events) tells the host.
func (s *Server) onMemberAccepted(c memberChange) {
	roomID, target, change, mc := c.roomID, c.target, c.change, c.content
	m := Membership{RoomID: roomID, EventID: c.a.Event.EventID(), UserID: target, Sender: c.sender,
		Membership: c.membership, Change: string(change), Reason: mc.Reason,
		DisplayName: mc.DisplayName, AvatarURL: mc.AvatarURL}
	if change == invites.ChangeProfileUpdate {
		// A join over a join: report what it changed, and nothing when
		// it changed neither the name nor the avatar.
		m.Changed = profileChanges(c.prevContent, mc)
	}
	local, hook, replaced, membership := c.a.Local, s.cfg.Hooks.OnMembership, c.replaced, c.membership
	s.hooks.push(func(ctx context.Context) {
		s.onMembershipForInvites(ctx, roomID, target, replaced, change)
		if membership != spec.Join {
			// Someone who left or was removed is no longer typing.
			s.eph.remote.Set(roomID, target, false)
		}
		if change == invites.ChangeJoin {
			s.presenceOnJoin(ctx, roomID, target)
		}
		if !local && hook != nil && (change != invites.ChangeProfileUpdate || len(m.Changed) > 0) {
			hook(ctx, m)
		}
	})
}

// onMembershipForInvites moves the invite of a membership change's target
// along its lifecycle (accepted, rejected, revoked). Only a change that
// acts on that very invite moves it (replaced names the membership event
// the change replaced): a late, older kick must not revoke a newer invite.
func (s *Server) onMembershipForInvites(ctx context.Context, roomID, userID, replaced string, change invites.Change) {
	inv, err := s.store.Invite(ctx, roomID, userID)
	if err != nil || replaced != inv.EventID {
		return
	}
	next, moved := invites.Next(inv.State, change)
	if !moved {
		return
	}
	if err := s.setInviteState(ctx, inv, next); err != nil {
		s.log.Warn("could not update invite", "room_id", roomID, "user_id", userID, "err", err)
	}
}

// onOutOfRoomPDU handles a PDU for a room this server is not in: the only
// one that matters is a revoke (kick) of a pending invite of one of our
// users, sent by the inviting side. It is verified and clears the invite.
// https://spec.matrix.org/v1.16/server-server-api/#inviting-to-a-room
func (s *Server) onOutOfRoomPDU(ctx context.Context, origin spec.ServerName, raw json.RawMessage) {
	env, err := content.ParseEvent(raw)
	if err != nil || env.Type != spec.MRoomMember || env.RoomID == "" || env.StateKey == nil || *env.StateKey == "" {
		return
	}
	roomID, target := env.RoomID, *env.StateKey
	inv, err := s.store.Invite(ctx, roomID, target)
	if err != nil || inv.Direction != storage.InviteInbound || inv.State != storage.InvitePending {
		return
	}
	ev, err := rooms.Parse(inv.RoomVersion, raw)
	if err != nil || ev.RoomID().String() != roomID {
		return
	}
	mc, _ := content.ParseMember(ev.Content())
	m := mc.Membership
	if m != spec.Leave && m != spec.Ban {
		return
	}
	// The kick must come from the inviting side: signed by a user of the
	// inviter's server, sent by that server.
	inviterServer, _ := ids.ServerOf(inv.Inviter)
	senderServer, err := ids.ServerOf(string(ev.SenderID()))
	if err != nil || senderServer != inviterServer || origin != inviterServer {
		return
	}
	if !slices.Contains(ev.AuthEventIDs(), inv.EventID) && !slices.Contains(ev.PrevEventIDs(), inv.EventID) {
		// A kick of an invite cites the invite as its member auth event;
		// tolerate servers that only list it as prev.
		s.log.Info("revoke does not cite the invite; accepting it from the inviting server", "event_id", ev.EventID())
	}
	if err := s.rooms.VerifySenderSignature(ctx, ev); err != nil {
		return
	}
	change := invites.Classify(spec.Invite, m, string(ev.SenderID()), target)
	s.onMembershipForInvites(ctx, roomID, target, inv.EventID, change)
	if h := s.cfg.Hooks.OnMembership; h != nil {
		mm := Membership{RoomID: roomID, EventID: ev.EventID(), UserID: target, Sender: string(ev.SenderID()),
			Membership: m, Change: string(change), Reason: mc.Reason}
		s.hooks.push(func(ctx context.Context) { h(ctx, mm) })
	}
}

// onInvite tells the host about an invite the federation layer stored.
func (s *Server) onInvite(inv storage.Invite) {
	if s.cfg.Hooks.OnInvite == nil {
		return
	}
	i := inviteOf(inv)
	s.hooks.push(func(ctx context.Context) { s.cfg.Hooks.OnInvite(ctx, i) })
}

func inviteOf(inv storage.Invite) Invite {
	out := Invite{
		RoomID: inv.RoomID, EventID: inv.EventID, Inviter: inv.Inviter, Invitee: inv.UserID,
		RoomVersion: inv.RoomVersion, State: inv.State,
		Created: time.UnixMilli(inv.CreatedTS), Updated: time.UnixMilli(inv.UpdatedTS),
	}
	stripped, _ := content.ParseStrippedState(inv.RoomState)
	for _, st := range stripped {
		switch st.Type {
		case spec.MRoomName:
			n, _ := content.ParseName(st.Content)
			out.RoomName = n.Name
		case spec.MRoomTopic:
			t, _ := content.ParseTopic(st.Content)
			out.RoomTopic = t.Topic
		}
	}
	out.IsDirect = content.MemberOf(inv.EventJSON).IsDirect
	return out
}
