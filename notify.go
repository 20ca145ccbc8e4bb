package homeserver

import (
	"context"
	"encoding/json"
	"time"

	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// onAccepted turns accepted remote events into host hooks. It runs inside
// the rooms engine, so it only queues work.
func (s *Server) onAccepted(a rooms.Accepted) {
	if a.Local || a.Historical {
		return
	}
	ev := a.Event
	h := s.cfg.Hooks
	roomID := ev.RoomID().String()
	sender := string(ev.SenderID())
	switch ev.Type() {
	case "m.room.message":
		m, ok := messageOf(roomID, ev.EventID(), sender, int64(ev.OriginServerTS()), a.StreamPos, ev.Content())
		if ok && h.OnMessage != nil {
			s.hooks.push(func(ctx context.Context) { h.OnMessage(ctx, m) })
		}
	case spec.MRoomMember:
		if ev.StateKey() == nil {
			return
		}
		membership, err := ev.Membership()
		if err != nil {
			return
		}
		m := Membership{RoomID: roomID, EventID: ev.EventID(), UserID: *ev.StateKey(), Sender: sender,
			Membership: membership, Reason: gjson.GetBytes(ev.Content(), "reason").Str}
		s.hooks.push(func(ctx context.Context) {
			if membership == spec.Join {
				s.markOutboundInvite(ctx, roomID, m.UserID, storage.InviteAccepted)
			}
			if h.OnMembership != nil {
				h.OnMembership(ctx, m)
			}
		})
	case spec.MRoomName, spec.MRoomTopic:
		field, hook := "name", h.OnRoomName
		if ev.Type() == spec.MRoomTopic {
			field, hook = "topic", h.OnRoomTopic
		}
		if hook != nil {
			c := RoomChange{RoomID: roomID, EventID: ev.EventID(), Sender: sender, Value: gjson.GetBytes(ev.Content(), field).Str}
			s.hooks.push(func(ctx context.Context) { hook(ctx, c) })
		}
	}
}

// markOutboundInvite moves an invite we sent to a new state.
func (s *Server) markOutboundInvite(ctx context.Context, roomID, userID, state string) {
	inv, err := s.store.Invite(ctx, roomID, userID)
	if err != nil || inv.Direction != storage.InviteOutbound || inv.State != storage.InvitePending {
		return
	}
	if err := s.store.SetInviteState(ctx, roomID, userID, state, time.Now().UnixMilli()); err != nil {
		s.log.Warn("could not update invite", "room_id", roomID, "user_id", userID, "err", err)
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
	for _, st := range gjson.ParseBytes(inv.RoomState).Array() {
		if st.Get("type").Str == spec.MRoomName {
			out.RoomName = st.Get("content.name").Str
		}
	}
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

func contentOf(eventJSON []byte) []byte {
	return []byte(gjson.GetBytes(eventJSON, "content").Raw)
}
