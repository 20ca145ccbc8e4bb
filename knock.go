package homeserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/invites"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Knock states (Knock.State).
const (
	KnockPending  = "pending"
	KnockAccepted = "accepted"
	KnockRefused  = "refused"
)

// knockDirection marks a local user's knock in the invite records
// (storage.Invite.Direction): one record per (room, knocker), its State
// pending or refused. The invite that accepts a knock replaces the record
// (the store keys invites by room and user), so the accepted outcome is
// kept in knockMemory for the life of the Server; after a restart an
// accepted knock shows as the pending invite it became.
const knockDirection = "knock"

// knockKey names one user's knock on one room.
type knockKey struct{ room, user string }

// knockMemory holds the knocks local users made in this run, by room and
// user, to recognise the invite that accepts one.
type knockMemory struct {
	mu sync.Mutex
	m  map[knockKey]Knock
}

func (k *knockMemory) get(key knockKey) (Knock, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok
}

func (k *knockMemory) put(v Knock) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[knockKey]Knock{}
	}
	k.m[knockKey{v.RoomID, v.UserID}] = v
}

// answer moves a pending knock to state if it is still pending and (when
// eventID is set) is that very knock; it reports whether it moved.
func (k *knockMemory) answer(key knockKey, eventID, state, by, reason, outcomeID string) (Knock, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	if !ok || v.State != KnockPending || (eventID != "" && v.EventID != eventID) {
		return Knock{}, false
	}
	v.State, v.By, v.Outcome, v.OutcomeEventID = state, by, reason, outcomeID
	k.m[key] = v
	return v, true
}

func (k *knockMemory) of(user string) []Knock {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []Knock
	for key, v := range k.m {
		if key.user == user {
			out = append(out, v)
		}
	}
	return out
}

// Knock asks, for a local user, to be invited into a room whose join rule
// is "knock": make_knock and send_knock through the via servers in turn
// (or the room ID's server when via is empty). The knock is then pending
// (MyKnocks) until the room invites the user (accepted: Hooks.OnInvite and
// Hooks.OnKnock) or removes the knock (refused: Hooks.OnKnock). A room
// this server is in is knocked on directly. An alias is resolved first
// (ResolveAlias); the servers it names are tried before via.
// https://spec.matrix.org/v1.16/server-server-api/#knocking-rooms
func (s *Server) Knock(ctx context.Context, roomIDOrAlias, user, reason string, via []string) error {
	uid, err := s.UserID(user)
	if err != nil {
		return err
	}
	roomID := roomIDOrAlias
	if strings.HasPrefix(roomID, "#") {
		id, servers, err := s.ResolveAlias(ctx, roomIDOrAlias)
		if err != nil {
			return fmt.Errorf("homeserver: knock on %s: %w", roomIDOrAlias, err)
		}
		roomID, via = id, append(servers, via...)
	}
	if err := ids.CheckRoomID(roomID); err != nil {
		return fmt.Errorf("%w: %v", ErrUnknownRoom, err)
	}
	if s.resident(ctx, roomID) {
		return s.knockHere(ctx, roomID, uid, reason)
	}
	servers := via
	if len(servers) == 0 {
		if server, err := ids.ServerOf(roomID); err == nil {
			servers = []string{string(server)}
		}
	}
	if len(servers) == 0 {
		return fmt.Errorf("homeserver: knock on %s: no server to knock through", roomID)
	}
	var errs []error
	for _, server := range servers {
		if spec.ServerName(server) == s.name {
			continue
		}
		ev, state, err := s.knockVia(ctx, roomID, uid, reason, spec.ServerName(server))
		if err == nil {
			return s.recordKnock(ctx, ev, reason, state)
		}
		s.log.Info("knock failed; trying the next server", "room_id", roomID, "via", server, "err", err)
		errs = append(errs, err)
	}
	return fmt.Errorf("homeserver: knock on %s: no server took it: %w", roomID, errors.Join(errs...))
}

// resident reports whether this server holds the room's state.
func (s *Server) resident(ctx context.Context, roomID string) bool {
	room, err := s.store.Room(ctx, roomID)
	return err == nil && room.CurrentSnapshot != 0
}

// knockHere knocks on a room this server is in: the knock is sent like
// any membership change, after a check of the join rule and of a ban.
func (s *Server) knockHere(ctx context.Context, roomID, uid, reason string) error {
	rule, err := s.store.StateEvent(ctx, roomID, spec.MRoomJoinRules, "")
	if err != nil {
		return fmt.Errorf("homeserver: knock on %s: join rules: %w", roomID, err)
	}
	if jr := joinRuleOf(rule.JSON); jr != spec.Knock {
		return fmt.Errorf("%w: %s's join rule is %q", ErrNotKnockable, roomID, jr)
	}
	if m, err := s.membershipOf(ctx, roomID, uid); err != nil {
		return err
	} else if m == spec.Ban {
		return fmt.Errorf("%w: %s in %s", ErrBanned, uid, roomID)
	}
	c := map[string]any{"membership": spec.Knock}
	if reason != "" {
		c["reason"] = reason
	}
	sk := uid
	ev, err := s.rooms.Send(ctx, roomID, uid, spec.MRoomMember, &sk, c)
	if err != nil {
		return err
	}
	state, err := s.rooms.InviteState(ctx, roomID, uid)
	if err != nil {
		return err
	}
	return s.recordKnock(ctx, ev, reason, state)
}

// joinRuleOf reads an m.room.join_rules event's rule ("" when malformed).
func joinRuleOf(eventJSON []byte) string {
	env, err := content.ParseEvent(eventJSON)
	if err != nil {
		return ""
	}
	var jr gomatrixserverlib.JoinRuleContent
	if json.Unmarshal(env.Content, &jr) != nil {
		return ""
	}
	return jr.JoinRule
}

// knockVia runs make_knock and send_knock through one server. The
// template must be a knock of uid in roomID (SignTemplate checks the rest).
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1make_knockroomiduserid
func (s *Server) knockVia(ctx context.Context, roomID, uid, reason string, via spec.ServerName) (gomatrixserverlib.PDU, []json.RawMessage, error) {
	mk, err := s.client.MakeKnock(ctx, via, roomID, uid)
	if err != nil {
		return nil, nil, fmt.Errorf("make_knock via %s: %w", via, err)
	}
	if m, err := content.ParseMember(mk.KnockEvent.Content); err != nil || m.Membership != spec.Knock {
		return nil, nil, fmt.Errorf("make_knock via %s: %w: the template is not a knock", via, rooms.ErrBadEvent)
	}
	ev, err := s.rooms.SignTemplateReason(string(mk.RoomVersion), mk.KnockEvent, roomID, uid, spec.Knock, reason)
	if err != nil {
		return nil, nil, fmt.Errorf("make_knock via %s: %w", via, err)
	}
	state, err := s.client.SendKnock(ctx, via, ev)
	if err != nil {
		return nil, nil, fmt.Errorf("send_knock via %s: %w", via, err)
	}
	return ev, state, nil
}

// recordKnock keeps a local user's knock, pending, in the invite records
// and in memory.
func (s *Server) recordKnock(ctx context.Context, ev gomatrixserverlib.PDU, reason string, state []json.RawMessage) error {
	if state == nil {
		state = []json.RawMessage{}
	}
	roomState, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("homeserver: knock room state: %w", err)
	}
	uid := string(ev.SenderID())
	t := now().UnixMilli()
	rec := storage.Invite{
		RoomID: ev.RoomID().String(), UserID: uid, Inviter: uid, Direction: knockDirection,
		EventID: ev.EventID(), RoomVersion: string(ev.Version()), EventJSON: ev.JSON(),
		RoomState: roomState, State: KnockPending, CreatedTS: t, UpdatedTS: t,
	}
	if err := s.store.PutInvite(ctx, rec); err != nil {
		return fmt.Errorf("homeserver: record knock: %w", err)
	}
	s.knocks.put(knockOf(rec, reason))
	return nil
}

func knockOf(rec storage.Invite, reason string) Knock {
	return Knock{RoomID: rec.RoomID, EventID: rec.EventID, UserID: rec.UserID, Reason: reason,
		State: rec.State, TS: time.UnixMilli(rec.CreatedTS)}
}

// MyKnocks returns a local user's knocks, pending, accepted or refused.
// An accepted knock is listed until the Server restarts; the invite it
// became stays in Invites.
func (s *Server) MyKnocks(ctx context.Context, user string) ([]Knock, error) {
	uid, err := s.UserID(user)
	if err != nil {
		return nil, err
	}
	recs, err := s.store.Invites(ctx, uid)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []Knock
	for _, rec := range recs {
		if rec.Direction != knockDirection {
			continue
		}
		k := knockOf(rec, content.MemberOf(rec.EventJSON).Reason)
		if mem, ok := s.knocks.get(knockKey{rec.RoomID, uid}); ok && mem.EventID == rec.EventID {
			k = mem
		}
		seen[rec.RoomID] = true
		out = append(out, k)
	}
	for _, k := range s.knocks.of(uid) {
		if !seen[k.RoomID] && k.State == KnockAccepted {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b Knock) int { return b.TS.Compare(a.TS) })
	return out, nil
}

// Knocks returns the pending knocks on a room this server is in: the
// members whose current membership is knock, with their reasons.
// https://spec.matrix.org/v1.16/client-server-api/#knocking-on-rooms
func (s *Server) Knocks(ctx context.Context, roomID string) ([]Knock, error) {
	state, err := s.rooms.CurrentState(ctx, roomID)
	if err != nil {
		return nil, err
	}
	var out []Knock
	for _, ev := range state {
		if ev.Type() != spec.MRoomMember || ev.StateKey() == nil {
			continue
		}
		if m, err := ev.Membership(); err != nil || m != spec.Knock {
			continue
		}
		out = append(out, Knock{RoomID: roomID, EventID: ev.EventID(), UserID: *ev.StateKey(),
			Reason: memberContent(ev.Content()).Reason, State: KnockPending, TS: ev.OriginServerTS().Time()})
	}
	slices.SortFunc(out, func(a, b Knock) int { return a.TS.Compare(b.TS) })
	return out, nil
}

// knocking checks that user has a pending knock on roomID.
func (s *Server) knocking(ctx context.Context, roomID, user string) error {
	m, err := s.membershipOf(ctx, roomID, user)
	if err != nil {
		return err
	}
	if m != spec.Knock {
		return fmt.Errorf("%w: %s on %s", ErrNotKnocking, user, roomID)
	}
	return nil
}

// AcceptKnock accepts a knock: sender (a local user allowed to invite)
// invites the knocking user, whose server is told through /invite as for
// any invite.
// https://spec.matrix.org/v1.16/client-server-api/#knocking-on-rooms
func (s *Server) AcceptKnock(ctx context.Context, roomID, sender, user string) error {
	from, err := s.UserID(sender)
	if err != nil {
		return err
	}
	if err := s.knocking(ctx, roomID, user); err != nil {
		return err
	}
	return s.invite(ctx, roomID, from, user, false)
}

// RefuseKnock refuses a knock: sender (a local user allowed to kick)
// sets the knocking user's membership to leave, with the reason. The leave
// reaches the knocker's server as kicks do, though it is not in the room.
// https://spec.matrix.org/v1.16/client-server-api/#knocking-on-rooms
func (s *Server) RefuseKnock(ctx context.Context, roomID, sender, user, reason string) error {
	from, err := s.UserID(sender)
	if err != nil {
		return err
	}
	if err := s.knocking(ctx, roomID, user); err != nil {
		return err
	}
	c := map[string]any{"membership": spec.Leave}
	if reason != "" {
		c["reason"] = reason
	}
	sk := user
	_, err = s.rooms.Send(ctx, roomID, from, spec.MRoomMember, &sk, c)
	return err
}

// onMemberOrKnockAccepted is the m.room.member route: the invite
// lifecycle (invite_api.go), then knocks.
func (s *Server) onMemberOrKnockAccepted(a rooms.Accepted) {
	c, ok := memberChangeOf(a)
	if !ok {
		return
	}
	s.onMemberAccepted(c)
	s.onKnockMember(c)
}

// onKnockMember follows knocks in rooms this server is in: a remote
// user's knock reaches the host (OnKnock, pending), and a local user's
// knock that is invited or removed is answered.
func (s *Server) onKnockMember(c memberChange) {
	a, ev := c.a, c.a.Event
	roomID, sender, target, prev, replaced := c.roomID, c.sender, c.target, c.prev, c.replaced
	reason := c.content.Reason
	switch c.change {
	case invites.ChangeKnock:
		if a.Local {
			return
		}
		k := Knock{RoomID: roomID, EventID: ev.EventID(), UserID: target, Reason: reason,
			State: KnockPending, TS: ev.OriginServerTS().Time()}
		s.tellKnock(k)
	case invites.ChangeKnockAccepted:
		if k, ok := s.knocks.answer(knockKey{roomID, target}, replaced, KnockAccepted, sender, "", ev.EventID()); ok {
			s.tellKnock(k)
		}
	case invites.ChangeKnockRefused, invites.ChangeBan:
		if prev != spec.Knock {
			return
		}
		s.refuseLocalKnock(roomID, target, replaced, sender, reason, ev.EventID())
	}
}

// refuseLocalKnock marks a local user's knock refused, in the record and
// in memory, and tells the host.
func (s *Server) refuseLocalKnock(roomID, user, knockID, by, reason, leaveID string) {
	s.hooks.push(func(ctx context.Context) {
		rec, err := s.store.Invite(ctx, roomID, user)
		if err != nil || rec.Direction != knockDirection || rec.State != KnockPending || rec.EventID != knockID {
			return
		}
		if err := s.store.SetInviteState(ctx, roomID, user, KnockRefused, now().UnixMilli()); err != nil {
			s.log.Warn("could not record a refused knock", "room_id", roomID, "user_id", user, "err", err)
			return
		}
		k, ok := s.knocks.answer(knockKey{roomID, user}, knockID, KnockRefused, by, reason, leaveID)
		if !ok {
			k = knockOf(rec, content.MemberOf(rec.EventJSON).Reason)
			k.State, k.By, k.Outcome, k.OutcomeEventID = KnockRefused, by, reason, leaveID
		}
		if h := s.cfg.Hooks.OnKnock; h != nil {
			h(ctx, k)
		}
	})
}

func (s *Server) tellKnock(k Knock) {
	if h := s.cfg.Hooks.OnKnock; h != nil {
		s.hooks.push(func(ctx context.Context) { h(ctx, k) })
	}
}

// onInviteOrKnock is the federation layer's OnInvite: an invite to a room
// a local user knocked on accepts the knock (the invite has replaced the
// knock's record).
func (s *Server) onInviteOrKnock(inv storage.Invite) {
	s.onInvite(inv)
	if k, ok := s.knocks.answer(knockKey{inv.RoomID, inv.UserID}, "", KnockAccepted, inv.Inviter, "", inv.EventID); ok {
		s.tellKnock(k)
	}
}

// onOutOfRoomPDUOrKnock is the federation layer's OnUnknownRoomPDU: the
// revoke of an invite (invite_api.go), or the refusal of a local user's
// knock on a room this server is not in.
func (s *Server) onOutOfRoomPDUOrKnock(ctx context.Context, origin spec.ServerName, raw json.RawMessage) {
	s.onOutOfRoomPDU(ctx, origin, raw)
	s.onKnockRefusal(ctx, origin, raw)
}

// onKnockRefusal takes a leave (or ban) of a local user's pending knock
// from the room's side: sent by the server of its sender, who is not the
// knocker, citing the knock as an auth event, and signed.
// https://spec.matrix.org/v1.16/server-server-api/#knocking-rooms
func (s *Server) onKnockRefusal(ctx context.Context, origin spec.ServerName, raw json.RawMessage) {
	env, err := content.ParseEvent(raw)
	if err != nil || env.Type != spec.MRoomMember || env.RoomID == "" || env.StateKey == nil || *env.StateKey == "" {
		return
	}
	roomID, target := env.RoomID, *env.StateKey
	rec, err := s.store.Invite(ctx, roomID, target)
	if err != nil || rec.Direction != knockDirection || rec.State != KnockPending {
		return
	}
	ev, err := rooms.Parse(rec.RoomVersion, raw)
	if err != nil || ev.RoomID().String() != roomID {
		return
	}
	mc, _ := content.ParseMember(ev.Content())
	if mc.Membership != spec.Leave && mc.Membership != spec.Ban {
		return
	}
	sender := string(ev.SenderID())
	senderServer, err := ids.ServerOf(sender)
	if err != nil || sender == target || senderServer != origin {
		return
	}
	if !slices.Contains(ev.AuthEventIDs(), rec.EventID) {
		return
	}
	if err := s.rooms.VerifySenderSignature(ctx, ev); err != nil {
		return
	}
	s.refuseLocalKnock(roomID, target, rec.EventID, sender, mc.Reason, ev.EventID())
	if h := s.cfg.Hooks.OnMembership; h != nil {
		m := Membership{RoomID: roomID, EventID: ev.EventID(), UserID: target, Sender: sender,
			Membership: mc.Membership, Change: string(invites.ChangeKnockRefused), Reason: mc.Reason}
		s.hooks.push(func(ctx context.Context) { h(ctx, m) })
	}
}
