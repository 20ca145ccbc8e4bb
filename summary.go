package homeserver

import (
	"context"
	"sort"

	"github.com/embedmatrix/homeserver/powerlevels"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// RoomSummary is what the host shows of a room.
type RoomSummary struct {
	RoomID  string
	Kind    RoomKind
	Name    string
	Topic   string
	Version string
	// Origin is the server of the room's creator: where the room was made.
	Origin  string
	Members []Member
	Banned  []BannedUser
}

// Member is one user's standing in a room.
type Member struct {
	UserID     string
	Membership string // "invite", "join", "leave", "ban"
	// InviteState is the state of the user's invite ("pending",
	// "accepted", "rejected", "revoked"), "" if never invited.
	InviteState string
	Role        string // the host role of the user's power level
	PowerLevel  int64
}

// SetRoomName renames a room.
func (s *Server) SetRoomName(ctx context.Context, roomID, sender, name string) error {
	return s.sendState(ctx, roomID, sender, spec.MRoomName, map[string]string{"name": name})
}

// SetRoomTopic changes a room's topic.
func (s *Server) SetRoomTopic(ctx context.Context, roomID, sender, topic string) error {
	return s.sendState(ctx, roomID, sender, spec.MRoomTopic, map[string]string{"topic": topic})
}

func (s *Server) sendState(ctx context.Context, roomID, sender, typ string, content any) error {
	from, err := s.UserID(sender)
	if err != nil {
		return err
	}
	empty := ""
	_, err = s.rooms.Send(ctx, roomID, from, typ, &empty, content)
	return err
}

// kindOf reads a room's kind from its create event (rooms made elsewhere
// are channels unless our invite said is_direct).
func (s *Server) kindOf(ctx context.Context, roomID string) RoomKind {
	if create, err := s.store.StateEvent(ctx, roomID, spec.MRoomCreate, ""); err == nil {
		switch k := RoomKind(gjson.GetBytes(create.JSON, "content."+gjsonEscape(kindKey)).Str); k {
		case KindDM, KindGroup, KindChannel:
			return k
		}
	}
	if invs, err := s.store.RoomInvites(ctx, roomID); err == nil {
		for _, inv := range invs {
			if gjson.GetBytes(inv.EventJSON, "content.is_direct").Bool() {
				return KindDM
			}
		}
	}
	return KindChannel
}

// Room returns the summary of a room this server is in.
func (s *Server) Room(ctx context.Context, roomID string) (RoomSummary, error) {
	version, err := s.rooms.RoomVersion(ctx, roomID)
	if err != nil {
		return RoomSummary{}, err
	}
	state, err := s.store.CurrentState(ctx, roomID)
	if err != nil {
		return RoomSummary{}, err
	}
	r, content, err := s.plRoom(ctx, roomID)
	if err != nil {
		return RoomSummary{}, err
	}
	levels, err := powerlevels.Parse(r, content)
	if err != nil {
		return RoomSummary{}, err
	}
	invites := map[string]string{}
	if invs, err := s.store.RoomInvites(ctx, roomID); err == nil {
		for _, inv := range invs {
			if _, seen := invites[inv.UserID]; !seen {
				invites[inv.UserID] = inv.State
			}
		}
	}
	sum := RoomSummary{RoomID: roomID, Kind: s.kindOf(ctx, roomID), Version: version}
	for _, ev := range state {
		c := gjson.GetBytes(ev.JSON, "content")
		switch {
		case ev.Type == spec.MRoomCreate:
			if srv, err := rooms.ServerOf(ev.Sender); err == nil {
				sum.Origin = string(srv)
			}
		case ev.Type == spec.MRoomName:
			sum.Name = c.Get("name").Str
		case ev.Type == spec.MRoomTopic:
			sum.Topic = c.Get("topic").Str
		case ev.Type == spec.MRoomMember && ev.StateKey != nil:
			uid := *ev.StateKey
			level := levels.UserLevel(uid)
			m := Member{UserID: uid, Membership: c.Get("membership").Str, InviteState: invites[uid],
				Role: string(s.roles.RoleFor(level)), PowerLevel: level}
			sum.Members = append(sum.Members, m)
			if m.Membership == spec.Ban {
				sum.Banned = append(sum.Banned, BannedUser{UserID: uid, Reason: c.Get("reason").Str, By: ev.Sender})
			}
		}
	}
	sort.Slice(sum.Members, func(i, j int) bool { return sum.Members[i].UserID < sum.Members[j].UserID })
	return sum, nil
}

// RoomEntry is one line of a user's room list.
type RoomEntry struct {
	RoomID     string
	Kind       RoomKind
	Name       string
	Topic      string
	Origin     string
	Membership string // "join" or "invite"
	// InviteState is set for rooms the user is invited to.
	InviteState string
}

// Rooms lists a local user's rooms: those joined, and pending invites
// (including into rooms this server is not in yet).
func (s *Server) Rooms(ctx context.Context, user string) ([]RoomEntry, error) {
	uid, err := s.UserID(user)
	if err != nil {
		return nil, err
	}
	all, err := s.store.Rooms(ctx)
	if err != nil {
		return nil, err
	}
	var out []RoomEntry
	seen := map[string]bool{}
	for _, room := range all {
		m, err := s.membershipOf(ctx, room.RoomID, uid)
		if err != nil || m != spec.Join && m != spec.Invite {
			continue
		}
		sum, err := s.Room(ctx, room.RoomID)
		if err != nil {
			continue
		}
		e := RoomEntry{RoomID: room.RoomID, Kind: sum.Kind, Name: sum.Name, Topic: sum.Topic, Origin: sum.Origin, Membership: m}
		if m == spec.Invite {
			e.InviteState = storage.InvitePending
		}
		out = append(out, e)
		seen[room.RoomID] = true
	}
	invs, err := s.store.Invites(ctx, uid)
	if err != nil {
		return nil, err
	}
	for _, inv := range invs {
		if seen[inv.RoomID] || inv.Direction != storage.InviteInbound || inv.State != storage.InvitePending {
			continue
		}
		i := inviteOf(inv)
		origin := ""
		if srv, err := rooms.ServerOf(i.Inviter); err == nil {
			origin = string(srv)
		}
		kind := KindChannel
		if gjson.GetBytes(inv.EventJSON, "content.is_direct").Bool() {
			kind = KindDM
		}
		for _, st := range gjson.ParseBytes(inv.RoomState).Array() {
			if st.Get("type").Str == spec.MRoomCreate {
				if srv, err := rooms.ServerOf(st.Get("sender").Str); err == nil {
					origin = string(srv)
				}
				if k := RoomKind(st.Get("content." + gjsonEscape(kindKey)).Str); k != "" {
					kind = k
				}
			}
		}
		out = append(out, RoomEntry{RoomID: inv.RoomID, Kind: kind, Name: i.RoomName, Topic: i.RoomTopic, Origin: origin,
			Membership: spec.Invite, InviteState: inv.State})
	}
	return out, nil
}

// gjsonEscape escapes the dots of a key for a gjson path.
func gjsonEscape(key string) string {
	out := make([]byte, 0, len(key)+4)
	for i := 0; i < len(key); i++ {
		if key[i] == '.' || key[i] == '*' || key[i] == '?' {
			out = append(out, '\\')
		}
		out = append(out, key[i])
	}
	return string(out)
}
