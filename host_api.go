package homeserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
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

// SendMessage sends a text message from a local user and returns its event
// ID. It is stored before SendMessage returns and delivered to the other
// servers in the room by the send queue.
func (s *Server) SendMessage(ctx context.Context, roomID, sender, body string) (string, error) {
	from, err := s.UserID(sender)
	if err != nil {
		return "", err
	}
	ev, err := s.rooms.Send(ctx, roomID, from, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": body})
	if err != nil {
		return "", err
	}
	return ev.EventID(), nil
}

// Messages returns a room's messages with StreamPos after the given one,
// oldest first, at most limit of them.
func (s *Server) Messages(ctx context.Context, roomID string, after int64, limit int) ([]Message, error) {
	var out []Message
	for len(out) < limit {
		evs, err := s.store.RoomEvents(ctx, roomID, after, limit)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			after = ev.StreamPos
			if ev.Type != "m.room.message" {
				continue
			}
			if m, ok := messageOf(ev.RoomID, ev.EventID, ev.Sender, ev.OriginServerTS, ev.StreamPos, contentOf(ev.JSON)); ok {
				out = append(out, m)
			}
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

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

// joinVia joins uid to a remote room through one server: make_join, sign,
// send_join, then store the room from the answer.
func (s *Server) joinVia(ctx context.Context, roomID, uid string, via spec.ServerName) error {
	mj, err := s.client.MakeJoin(ctx, via, roomID, uid)
	if err != nil {
		return fmt.Errorf("homeserver: make_join via %s: %w", via, err)
	}
	v, err := rooms.Version(string(mj.RoomVersion))
	if err != nil {
		return err
	}
	proto := mj.JoinEvent
	if proto.Type != spec.MRoomMember || proto.StateKey == nil || *proto.StateKey != uid || proto.SenderID != uid || proto.RoomID != roomID {
		return fmt.Errorf("homeserver: make_join via %s returned a template for someone else", via)
	}
	content, _ := json.Marshal(map[string]string{"membership": spec.Join})
	proto.Content = content
	id := s.identity
	join, err := v.NewEventBuilderFromProtoEvent(&proto).Build(time.Now(), id.ServerName, id.KeyID, id.PrivateKey)
	if err != nil {
		return fmt.Errorf("homeserver: build join: %w", err)
	}
	sj, err := s.client.SendJoin(ctx, via, join)
	if err != nil {
		return fmt.Errorf("homeserver: send_join via %s: %w", via, err)
	}
	return s.rooms.JoinFromResponse(ctx, string(mj.RoomVersion), join, rawList(sj.StateEvents), rawList(sj.AuthEvents))
}

func rawList(evs gomatrixserverlib.EventJSONs) []json.RawMessage {
	out := make([]json.RawMessage, len(evs))
	for i, e := range evs {
		out[i] = json.RawMessage(e)
	}
	return out
}

// JoinRoom joins a local user to a remote room by ID through the given
// servers, trying each in turn until one answers (failing over when one
// is down or does not know the room).
func (s *Server) JoinRoom(ctx context.Context, roomID, user string, via []string) error {
	uid, err := s.UserID(user)
	if err != nil {
		return err
	}
	if len(via) == 0 {
		return fmt.Errorf("homeserver: join %s: no server to join through", roomID)
	}
	var errs []error
	for _, server := range via {
		if spec.ServerName(server) == s.name {
			continue
		}
		err := s.joinVia(ctx, roomID, uid, spec.ServerName(server))
		if err == nil {
			return nil
		}
		s.log.Info("join failed; trying the next server", "room_id", roomID, "via", server, "err", err)
		errs = append(errs, err)
	}
	return fmt.Errorf("homeserver: join %s: no server let us in: %w", roomID, errors.Join(errs...))
}

// Backfill fetches up to limit messages older than what this server holds
// of a room from the other servers in it, checks them, stores them, and
// returns them oldest first. Hooks are not called for history.
func (s *Server) Backfill(ctx context.Context, roomID string, limit int) ([]Message, error) {
	servers, err := s.rooms.JoinedServers(ctx, roomID)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, server := range servers {
		if spec.ServerName(server) == s.name {
			continue
		}
		evs, err := s.rooms.FetchHistory(ctx, spec.ServerName(server), roomID, limit)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var out []Message
		for _, ev := range evs {
			if ev.Type() != "m.room.message" {
				continue
			}
			if m, ok := messageOf(roomID, ev.EventID(), string(ev.SenderID()), int64(ev.OriginServerTS()), 0, ev.Content()); ok {
				out = append(out, m)
			}
		}
		return out, nil
	}
	if len(errs) == 0 {
		return nil, nil
	}
	return nil, fmt.Errorf("homeserver: backfill %s: %w", roomID, errors.Join(errs...))
}

// Leave makes a local user leave a room this server is in. The leave is
// sent to every server in the room.
func (s *Server) Leave(ctx context.Context, roomID, user string) error {
	uid, err := s.UserID(user)
	if err != nil {
		return err
	}
	_, err = s.rooms.Send(ctx, roomID, uid, spec.MRoomMember, &uid, map[string]any{"membership": spec.Leave})
	return err
}
