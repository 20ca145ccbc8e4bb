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
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// joinVia joins uid to a remote room through one server: make_join, sign,
// send_join, then store the room from the answer.
// https://spec.matrix.org/v1.16/server-server-api/#joining-rooms
func (s *Server) joinVia(ctx context.Context, roomID, uid string, via spec.ServerName) error {
	mj, err := s.makeJoin(ctx, roomID, uid, via)
	if err != nil {
		return err
	}
	join, err := s.rooms.SignTemplateWith(string(mj.RoomVersion), mj.JoinEvent, roomID, uid, spec.Join, s.joinProfile(ctx, uid))
	if err != nil {
		return fmt.Errorf("homeserver: make_join via %s: %w", via, err)
	}
	sj, err := s.client.SendJoin(ctx, via, join)
	if err != nil {
		return fmt.Errorf("homeserver: send_join via %s: %w", via, err)
	}
	return s.rooms.JoinFromResponse(ctx, string(mj.RoomVersion), join, rawList(sj.StateEvents), rawList(sj.AuthEvents))
}

// Waiting for a resident server to take in our leave before rejoining.
const (
	staleTemplateRetries = 10
	staleTemplateWait    = 200 * time.Millisecond
)

// makeJoin asks via for a join template. A template built on a join of
// ours that we have since left is stale: the resident server has not taken
// in our leave yet (Dendrite acknowledges /send before processing it), and
// a join on top of it would be lost there. We wait and ask again.
func (s *Server) makeJoin(ctx context.Context, roomID, uid string, via spec.ServerName) (fclient.RespMakeJoin, error) {
	for attempt := 0; ; attempt++ {
		mj, err := s.client.MakeJoin(ctx, via, roomID, uid)
		if err != nil {
			return mj, fmt.Errorf("homeserver: make_join via %s: %w", via, err)
		}
		if attempt >= staleTemplateRetries || !s.citesOurOldJoin(ctx, roomID, uid, mj.JoinEvent.AuthEvents) {
			return mj, nil
		}
		s.log.Info("make_join template builds on a join we left; asking again", "room_id", roomID, "via", via)
		select {
		case <-ctx.Done():
			return mj, ctx.Err()
		case <-time.After(staleTemplateWait):
		}
	}
}

// citesOurOldJoin reports whether auth events (as a make_join template
// lists them) include a join of uid while uid's membership here is leave.
func (s *Server) citesOurOldJoin(ctx context.Context, roomID, uid string, authEvents any) bool {
	ids, ok := authEvents.([]any)
	if !ok {
		if strs, ok := authEvents.([]string); ok {
			for _, id := range strs {
				ids = append(ids, id)
			}
		}
	}
	if m, err := s.membershipOf(ctx, roomID, uid); err != nil || m != spec.Leave {
		return false
	}
	for _, raw := range ids {
		id, _ := raw.(string)
		ev, err := s.store.Event(ctx, id)
		if err == nil && ev.Type == spec.MRoomMember && ev.StateKey != nil && *ev.StateKey == uid &&
			content.MemberOf(ev.JSON).Membership == spec.Join {
			return true
		}
	}
	return false
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
// is down or does not know the room). It also takes a room alias, as Join
// does.
func (s *Server) JoinRoom(ctx context.Context, roomID, user string, via []string) error {
	_, err := s.Join(ctx, roomID, user, via)
	return err
}

// Join joins a local user to a room named by its ID or by an alias
// (#name:server), and returns the room ID. An alias is resolved first
// (ResolveAlias); the servers its directory gives are tried, then via,
// then the alias's own server. A room this server is joined to already is
// joined here, without federation.
// https://spec.matrix.org/v1.16/client-server-api/#post_matrixclientv3joinroomidoralias
func (s *Server) Join(ctx context.Context, room, user string, via []string) (string, error) {
	uid, err := s.UserID(user)
	if err != nil {
		return "", err
	}
	roomID := room
	if len(room) > 0 && room[0] == '#' {
		id, servers, err := s.ResolveAlias(ctx, room)
		if err != nil {
			return "", err
		}
		a, _ := ids.ParseAlias(room) // ResolveAlias checked it
		roomID = id
		// oursFirst with no name of ours only drops repeated servers.
		via = oursFirst("", append(append(slices.Clone(servers), via...), a.Server))
	}
	if joined, err := s.rooms.JoinedServers(ctx, roomID); err == nil && slices.Contains(joined, string(s.name)) {
		if m, err := s.membershipOf(ctx, roomID, uid); err == nil && m == spec.Join {
			return roomID, nil
		}
		// The join carries the user's profile, as every join of ours does.
		// https://spec.matrix.org/v1.16/client-server-api/#events-on-change-of-profile-information
		join := s.joinProfile(ctx, uid)
		join["membership"] = spec.Join
		_, err := s.rooms.Send(ctx, roomID, uid, spec.MRoomMember, &uid, join)
		if err != nil {
			return "", fmt.Errorf("homeserver: join %s: %w", roomID, err)
		}
		return roomID, nil
	}
	return roomID, s.joinRemote(ctx, roomID, uid, via)
}

// joinRemote joins uid to a room this server is not in, through via.
func (s *Server) joinRemote(ctx context.Context, roomID, uid string, via []string) error {
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

// Leave makes a local user leave a room this server is in. The leave is
// sent to every server in the room.
func (s *Server) Leave(ctx context.Context, roomID, user string) error {
	uid, err := s.UserID(user)
	if err != nil {
		return err
	}
	if err := s.mustBeJoined(ctx, roomID, uid); err != nil {
		return err
	}
	_, err = s.rooms.Send(ctx, roomID, uid, spec.MRoomMember, &uid, map[string]any{"membership": spec.Leave})
	return err
}
