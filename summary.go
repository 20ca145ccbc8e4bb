package homeserver

import (
	"context"
	"sort"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/powerlevels"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
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
	// DisplayName and AvatarURL are the user's in this room, from their
	// member event ("" when it has none).
	DisplayName string
	AvatarURL   string
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

// onNameAccepted tells the host of a remote m.room.name change.
func (s *Server) onNameAccepted(a rooms.Accepted) {
	n, _ := content.ParseName(a.Event.Content())
	s.reportRoomChange(a, s.cfg.Hooks.OnRoomName, n.Name)
}

// onTopicAccepted tells the host of a remote m.room.topic change.
func (s *Server) onTopicAccepted(a rooms.Accepted) {
	t, _ := content.ParseTopic(a.Event.Content())
	s.reportRoomChange(a, s.cfg.Hooks.OnRoomTopic, t.Topic)
}

func (s *Server) reportRoomChange(a rooms.Accepted, hook func(context.Context, RoomChange), value string) {
	if hook == nil {
		return
	}
	ev := a.Event
	c := RoomChange{RoomID: ev.RoomID().String(), EventID: ev.EventID(), Sender: string(ev.SenderID()), Value: value}
	s.hooks.push(func(ctx context.Context) { hook(ctx, c) })
}

// roomFacts is what one pass over a room's current state tells the
// summaries: the create event, name, topic and every member.
type roomFacts struct {
	hasCreate    bool
	create       content.Create
	createSender string
	name, topic  string
	members      []memberFact
}

// memberFact is one m.room.member state event.
type memberFact struct {
	userID, sender string
	content.Member
}

// factsOf reads a room's current state once.
func factsOf(state []storage.Event) roomFacts {
	var f roomFacts
	for _, ev := range state {
		c := content.Of(ev.JSON)
		switch {
		case ev.Type == spec.MRoomCreate:
			f.hasCreate, f.createSender = true, ev.Sender
			f.create, _ = content.ParseCreate(c)
		case ev.Type == spec.MRoomName:
			n, _ := content.ParseName(c)
			f.name = n.Name
		case ev.Type == spec.MRoomTopic:
			t, _ := content.ParseTopic(c)
			f.topic = t.Topic
		case ev.Type == spec.MRoomMember && ev.StateKey != nil:
			f.members = append(f.members, memberFact{userID: *ev.StateKey, sender: ev.Sender, Member: memberContent(c)})
		}
	}
	return f
}

// origin is the server of the room's creator, "" when unknown.
func (f roomFacts) origin() string {
	if !f.hasCreate {
		return ""
	}
	if srv, err := ids.ServerOf(f.createSender); err == nil {
		return string(srv)
	}
	return ""
}

// membership returns a user's membership in the state read.
func (f roomFacts) membership(userID string) string {
	for _, m := range f.members {
		if m.userID == userID {
			return m.Membership
		}
	}
	return ""
}

// kindOf reads a room's kind from its create event.
func (s *Server) kindOf(ctx context.Context, roomID string) RoomKind {
	var c content.Create
	if create, err := s.store.StateEvent(ctx, roomID, spec.MRoomCreate, ""); err == nil {
		c, _ = content.ParseCreate(content.Of(create.JSON))
	}
	return s.kindFrom(ctx, roomID, c)
}

// kindFrom is a room's kind: the one its create content names, else (for
// rooms made elsewhere) a channel unless our invite said is_direct.
func (s *Server) kindFrom(ctx context.Context, roomID string, create content.Create) RoomKind {
	switch k := RoomKind(create.Kind); k {
	case KindDM, KindGroup, KindChannel:
		return k
	}
	if invs, err := s.store.RoomInvites(ctx, roomID); err == nil {
		for _, inv := range invs {
			if content.MemberOf(inv.EventJSON).IsDirect {
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
	r, levelsContent, err := s.plRoom(ctx, roomID)
	if err != nil {
		return RoomSummary{}, err
	}
	levels, err := powerlevels.Parse(r, levelsContent)
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
	f := factsOf(state)
	sum := RoomSummary{RoomID: roomID, Kind: s.kindFrom(ctx, roomID, f.create), Version: version,
		Name: f.name, Topic: f.topic, Origin: f.origin()}
	for _, mf := range f.members {
		level := levels.UserLevel(mf.userID)
		m := Member{UserID: mf.userID, Membership: mf.Membership, InviteState: invites[mf.userID],
			DisplayName: mf.DisplayName, AvatarURL: mf.AvatarURL,
			Role: string(s.roles.RoleFor(level)), PowerLevel: level}
		sum.Members = append(sum.Members, m)
		if m.Membership == spec.Ban {
			sum.Banned = append(sum.Banned, BannedUser{UserID: mf.userID, Reason: mf.Reason, By: mf.sender})
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
		state, err := s.store.CurrentState(ctx, room.RoomID)
		if err != nil {
			continue
		}
		f := factsOf(state)
		m := f.membership(uid)
		if m != spec.Join && m != spec.Invite || !f.hasCreate {
			continue
		}
		e := RoomEntry{RoomID: room.RoomID, Kind: s.kindFrom(ctx, room.RoomID, f.create), Name: f.name, Topic: f.topic,
			Origin: f.origin(), Membership: m}
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
		if srv, err := ids.ServerOf(i.Inviter); err == nil {
			origin = string(srv)
		}
		kind := KindChannel
		if i.IsDirect {
			kind = KindDM
		}
		stripped, _ := content.ParseStrippedState(inv.RoomState)
		for _, st := range stripped {
			if st.Type == spec.MRoomCreate {
				if srv, err := ids.ServerOf(st.Sender); err == nil {
					origin = string(srv)
				}
				if c, _ := content.ParseCreate(st.Content); c.Kind != "" {
					kind = RoomKind(c.Kind)
				}
			}
		}
		out = append(out, RoomEntry{RoomID: inv.RoomID, Kind: kind, Name: i.RoomName, Topic: i.RoomTopic, Origin: origin,
			Membership: spec.Invite, InviteState: inv.State})
	}
	return out, nil
}
