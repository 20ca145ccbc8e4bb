package homeserver

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/ephemeral"
	"github.com/embedmatrix/homeserver/ids"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Presence over federation: our users' presence goes to the servers
// sharing a room with them, coalesced per destination; other servers'
// presence is accepted for their own users who share a room with us.
// Presence lives in memory only: after a restart every user is offline
// until set again or reported again.
// https://spec.matrix.org/v1.16/server-server-api/#presence

// newPresence sets up the presence trackers and coalescer of e.
func (s *Server) newPresence(e *ephemeralState) {
	e.presenceOut = ephemeral.NewPresenceCoalescer(ephemeral.DefaultWindow, nil, s.flushPresence)
	e.localPresence = ephemeral.NewPresenceTracker(ephemeral.PresenceConfig{
		Ping:     ephemeral.DefaultPingInterval,
		OnChange: func(c ephemeral.PresenceChange) { s.announcePresence(c.PresenceState) },
		OnPing:   s.announcePresence,
	})
	e.remotePresence = ephemeral.NewPresenceTracker(ephemeral.PresenceConfig{
		Remote: true,
		OnChange: func(c ephemeral.PresenceChange) {
			if h := s.cfg.Hooks.OnPresence; h != nil {
				p := presenceOf(c.PresenceState, c.Expired)
				s.hooks.push(func(ctx context.Context) { h(ctx, p) })
			}
		},
	})
}

// SetPresence sets a local user's presence ("online", "unavailable" or
// "offline") and status message, and (unless Config.Presence is off)
// sends it to every server sharing a room with the user, coalesced with
// other changes in a short window. Setting "online" marks the user active
// now: call it again on activity. A user online and idle for 5 minutes
// becomes "unavailable" by itself, and the other servers are told. Our
// users who are not offline are announced again every 25 minutes, so that
// other servers do not time them out. Anything else than the three
// presences, or a status message that is not UTF-8 or longer than 1024
// bytes, fails with ErrInvalidPresence.
func (s *Server) SetPresence(ctx context.Context, user, presence, statusMsg string) error {
	uid, err := s.UserID(user)
	if err != nil {
		return err
	}
	if !ephemeral.ValidPresence(presence) {
		return fmt.Errorf("%w: %q", ErrInvalidPresence, presence)
	}
	if !ephemeral.ValidStatusMsg(statusMsg) {
		return fmt.Errorf("%w: status message of %d bytes", ErrInvalidPresence, len(statusMsg))
	}
	p := ephemeral.PresenceState{UserID: uid, Presence: presence, StatusMsg: statusMsg}
	// Going online is activity (the spec's "pro-active event"); the
	// other presences keep the last activity.
	// https://spec.matrix.org/v1.16/client-server-api/#last-active-ago
	if prev, ok := s.eph.localPresence.Get(uid); ok && presence != ephemeral.Online {
		p.LastActive = prev.LastActive
	}
	if p.LastActive.IsZero() {
		p.LastActive = now()
	}
	p.CurrentlyActive = presence == ephemeral.Online
	s.eph.localPresence.Set(p)
	return nil
}

// Presence returns a user's presence: one of ours (a local name or a full
// ID) as SetPresence left it, or another server's as it last said. A user
// nobody has reported is "offline" with a zero LastActive.
func (s *Server) Presence(ctx context.Context, userID string) (Presence, error) {
	uid, err := s.presenceUserID(userID)
	if err != nil {
		return Presence{}, err
	}
	tracker := s.eph.remotePresence
	if uid.Domain() == s.name {
		tracker = s.eph.localPresence
	}
	st, ok := tracker.Get(uid.String())
	if !ok {
		return Presence{UserID: uid.String(), Presence: ephemeral.Offline}, nil
	}
	return presenceOf(st, false), nil
}

// presenceUserID reads a local name or a full user ID of any server.
func (s *Server) presenceUserID(user string) (spec.UserID, error) {
	id := user
	if !strings.HasPrefix(id, "@") {
		local, err := s.UserID(user)
		if err != nil {
			return spec.UserID{}, err
		}
		id = local
	}
	uid, err := spec.NewUserID(id, true)
	if err != nil {
		return spec.UserID{}, fmt.Errorf("%w: %q: %v", ErrInvalidUserID, user, err)
	}
	return *uid, nil
}

func presenceOf(st ephemeral.PresenceState, expired bool) Presence {
	return Presence{UserID: st.UserID, Presence: st.Presence, StatusMsg: st.StatusMsg,
		LastActive: st.LastActive, CurrentlyActive: st.CurrentlyActive, Expired: expired}
}

// announcePresence hands a local user's presence to the coalescer for
// every server sharing a room with them: the local tracker's callbacks.
func (s *Server) announcePresence(p ephemeral.PresenceState) {
	if !s.eph.presence {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ephemeralTimeout)
	defer cancel()
	dests, err := s.presenceDestinations(ctx, p.UserID)
	if err != nil {
		s.log.Warn("could not send presence", "user_id", p.UserID, "err", err)
		return
	}
	for _, d := range dests {
		s.eph.presenceOut.Add(d, p)
	}
}

// presenceDestinations returns the other servers with a joined member in
// a room where the local user is joined, sorted.
// https://spec.matrix.org/v1.16/server-server-api/#presence
func (s *Server) presenceDestinations(ctx context.Context, userID string) ([]string, error) {
	rooms, err := s.store.Rooms(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rooms {
		servers, err := s.rooms.JoinedServers(ctx, r.RoomID)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(servers, string(s.name)) || len(servers) < 2 {
			continue
		}
		if m, err := s.membershipOf(ctx, r.RoomID, userID); err != nil {
			return nil, err
		} else if m != spec.Join {
			continue
		}
		for _, d := range servers {
			if d != string(s.name) {
				out = append(out, d)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// presenceOnJoin tells the servers that start sharing a room with us
// what they did not hear, as Synapse does, instead of leaving them to the
// next change or the 25-minute announcement: a remote user's join gets
// that server the presence of our users joined to the room; our user's
// join gets the room's other servers that user's presence. Offline users
// (and users never set) are not sent.
func (s *Server) presenceOnJoin(ctx context.Context, roomID, joiner string) {
	if !s.eph.presence {
		return
	}
	server, err := ids.ServerOf(joiner)
	if err != nil {
		return
	}
	if server == s.name {
		p, ok := s.eph.localPresence.Get(joiner)
		if !ok || p.Presence == ephemeral.Offline {
			return
		}
		servers, err := s.rooms.JoinedServers(ctx, roomID)
		if err != nil {
			return
		}
		for _, d := range servers {
			if d != string(s.name) {
				s.eph.presenceOut.Add(d, p)
			}
		}
		return
	}
	state, err := s.store.CurrentState(ctx, roomID)
	if err != nil {
		return
	}
	for _, ev := range state {
		if ev.Type != spec.MRoomMember || ev.StateKey == nil || memberContent(content.Of(ev.JSON)).Membership != spec.Join {
			continue
		}
		if u, err := ids.ServerOf(*ev.StateKey); err != nil || u != s.name {
			continue
		}
		if p, ok := s.eph.localPresence.Get(*ev.StateKey); ok && p.Presence != ephemeral.Offline {
			s.eph.presenceOut.Add(string(server), p)
		}
	}
}

// flushPresence queues one m.presence EDU: the coalescer's flush. The
// last_active_ago of each user is reckoned now.
func (s *Server) flushPresence(dest string, ps []ephemeral.PresenceState) {
	t := now()
	us := make([]ephemeral.PresenceUpdate, 0, len(ps))
	for _, p := range ps {
		us = append(us, p.Update(t))
	}
	edu, err := ephemeral.EncodePresence(us)
	if err != nil {
		s.log.Warn("could not encode presence", "destination", dest, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ephemeralTimeout)
	defer cancel()
	if err := s.store.EnqueueEDU(ctx, dest, edu); err != nil {
		s.log.Warn("could not queue presence", "destination", dest, "err", err)
		return
	}
	s.sender.Wake(dest)
}

// receivePresence applies the entries of an m.presence EDU that pass the
// checks: the user is on the origin server and shares a room with us.
// https://spec.matrix.org/v1.16/server-server-api/#presence
func (s *Server) receivePresence(ctx context.Context, origin spec.ServerName, content []byte) {
	us, skipped, err := ephemeral.DecodePresence(content)
	if err != nil || skipped > 0 {
		s.log.Debug("m.presence entries dropped", "origin", origin, "skipped", skipped, "err", err)
	}
	shares := s.sharesRoomVia(origin)
	t := now()
	for _, u := range us {
		if err := ephemeral.AdmitPresence(ctx, shares, origin, u.UserID); err != nil {
			s.log.Info("refused presence", "origin", origin, "user_id", u.UserID, "err", err)
			continue
		}
		s.eph.remotePresence.Set(ephemeral.StateOf(u, t))
	}
}

// sharesRoomVia returns the check that a user of origin shares a room
// with us: they are joined to a room where one of our users is joined.
// The rooms this server shares with origin are listed once per EDU, on
// first use.
func (s *Server) sharesRoomVia(origin spec.ServerName) ephemeral.SharesRoom {
	var shared []string
	listed := false
	return func(ctx context.Context, userID string) (bool, error) {
		if !listed {
			rooms, err := s.store.Rooms(ctx)
			if err != nil {
				return false, err
			}
			for _, r := range rooms {
				servers, err := s.rooms.JoinedServers(ctx, r.RoomID)
				if err != nil {
					return false, err
				}
				if slices.Contains(servers, string(s.name)) && slices.Contains(servers, string(origin)) {
					shared = append(shared, r.RoomID)
				}
			}
			listed = true
		}
		for _, roomID := range shared {
			m, err := s.membershipOf(ctx, roomID, userID)
			if err != nil {
				return false, err
			}
			if m == spec.Join {
				return true, nil
			}
		}
		return false, nil
	}
}
