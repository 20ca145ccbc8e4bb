package homeserver

import (
	"context"
	"encoding/json"
	"time"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/invites"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// onAccepted turns accepted events into host hooks. It runs inside the
// rooms engine, so it only queues work. Invite lifecycles follow every
// membership change, local ones included; hooks report remote events only.
func (s *Server) onAccepted(a rooms.Accepted) {
	if a.Historical {
		return
	}
	ev := a.Event
	h := s.cfg.Hooks
	roomID := ev.RoomID().String()
	sender := string(ev.SenderID())
	if ev.Type() == spec.MRoomMember && ev.StateKey() != nil {
		membership, err := ev.Membership()
		if err != nil {
			return
		}
		prev, replaced := "", ""
		if a.Replaced != nil {
			prev, _ = a.Replaced.Membership()
			replaced = a.Replaced.EventID()
		}
		target := *ev.StateKey()
		change := invites.Classify(prev, membership, sender, target)
		m := Membership{RoomID: roomID, EventID: ev.EventID(), UserID: target, Sender: sender,
			Membership: membership, Change: string(change), Reason: memberContent(ev.Content()).Reason}
		local := a.Local
		s.hooks.push(func(ctx context.Context) {
			s.onMembershipForInvites(ctx, roomID, target, replaced, change)
			if membership != spec.Join && s.eph != nil && s.eph.remote != nil {
				// Someone who left or was removed is no longer typing.
				s.eph.remote.Set(roomID, target, false)
			}
			if !local && h.OnMembership != nil && change != invites.ChangeProfileUpdate {
				h.OnMembership(ctx, m)
			}
		})
		return
	}
	if a.Local {
		return
	}
	switch ev.Type() {
	case "m.room.message":
		m, ok := messageOf(roomID, ev.EventID(), sender, int64(ev.OriginServerTS()), a.StreamPos, ev.Content())
		if ok && h.OnMessage != nil {
			s.hooks.push(func(ctx context.Context) { h.OnMessage(ctx, m) })
		}
	case spec.MRoomName, spec.MRoomTopic:
		hook := h.OnRoomName
		value := func(raw []byte) string { n, _ := content.ParseName(raw); return n.Name }
		if ev.Type() == spec.MRoomTopic {
			hook = h.OnRoomTopic
			value = func(raw []byte) string { t, _ := content.ParseTopic(raw); return t.Topic }
		}
		if hook != nil {
			c := RoomChange{RoomID: roomID, EventID: ev.EventID(), Sender: sender, Value: value(ev.Content())}
			s.hooks.push(func(ctx context.Context) { hook(ctx, c) })
		}
	case spec.MRoomPowerLevels:
		if h.OnRoleChange == nil || !ev.StateKeyEquals("") {
			return
		}
		var old []byte
		if a.Replaced != nil {
			old = a.Replaced.Content()
		}
		newContent := ev.Content()
		s.hooks.push(func(ctx context.Context) { s.announceRoleChanges(ctx, roomID, ev.EventID(), sender, old, newContent) })
	}
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

func messageOf(roomID, eventID, sender string, ts, pos int64, content []byte) (Message, bool) {
	var c struct {
		MsgType string `json:"msgtype"`
		Body    string `json:"body"`
	}
	if json.Unmarshal(content, &c) != nil || c.MsgType == "" {
		return Message{}, false
	}
	return Message{RoomID: roomID, EventID: eventID, Sender: sender, MsgType: c.MsgType, Body: c.Body,
		Timestamp: time.UnixMilli(ts), StreamPos: pos}, true
}

// memberContent parses an m.room.member content; a malformed one reads as
// the zero Member.
func memberContent(raw []byte) content.Member {
	m, _ := content.ParseMember(raw)
	return m
}
