package homeserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/embedmatrix/homeserver/ephemeral"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Receipt says that a user has read a room up to an event.
type Receipt struct {
	RoomID    string
	EventID   string    // the event the receipt points at
	UserID    string    // full Matrix user ID of the reader
	Timestamp time.Time // when they read it
}

// Typing is a user starting or stopping typing in a room.
type Typing struct {
	RoomID string
	UserID string // full Matrix user ID
	Typing bool
	// Expired is true when the user stopped because their server did not
	// say they were still typing within Config.TypingTimeout.
	Expired bool
}

// ephemeralState is the Server's receipts, typing and presence machinery.
type ephemeralState struct {
	receipts bool
	typing   bool
	// coalescer batches our users' receipts per (room, destination).
	coalescer *ephemeral.Coalescer
	// local are our users typing; remote, other servers' users.
	local, remote *ephemeral.Tracker

	presence bool
	// presenceOut batches our users' presence per destination.
	presenceOut *ephemeral.PresenceCoalescer
	// localPresence is our users' presence; remotePresence, other
	// servers' users' (both in memory only).
	localPresence, remotePresence *ephemeral.PresenceTracker
}

// ephemeralTimeout bounds the store work of one timer-driven send.
const ephemeralTimeout = 10 * time.Second

// newEphemeral sets up receipts, typing and presence from the Config. Its timers
// call back into s (hooks, sender), so those exist first.
func (s *Server) newEphemeral() *ephemeralState {
	timeout := s.cfg.TypingTimeout
	if timeout <= 0 {
		timeout = ephemeral.DefaultTypingTimeout
	}
	e := &ephemeralState{receipts: s.cfg.Receipts != SwitchOff, typing: s.cfg.Typing != SwitchOff,
		presence: s.cfg.Presence != SwitchOff}
	e.coalescer = ephemeral.NewCoalescer(ephemeral.DefaultWindow, nil, s.flushReceipts)
	e.local = ephemeral.NewTracker(ephemeral.TrackerConfig{
		Timeout:  timeout,
		Resend:   ephemeral.ResendInterval(timeout),
		OnChange: func(c ephemeral.TypingChange) { s.sendTyping(c.TypingUpdate) },
		OnResend: func(c ephemeral.TypingChange) { s.sendTyping(c.TypingUpdate) },
	})
	e.remote = ephemeral.NewTracker(ephemeral.TrackerConfig{
		Timeout: timeout,
		OnChange: func(c ephemeral.TypingChange) {
			if h := s.cfg.Hooks.OnTyping; h != nil {
				t := Typing{RoomID: c.RoomID, UserID: c.UserID, Typing: c.Typing, Expired: c.Expired}
				s.hooks.push(func(ctx context.Context) { h(ctx, t) })
			}
		},
	})
	s.newPresence(e)
	return e
}

// closeEphemeral queues the receipts and presence still being coalesced
// and stops the typing and presence timers. It runs before the send queue and the store close.
func (s *Server) closeEphemeral() {
	s.eph.coalescer.Close()
	s.eph.local.Close()
	s.eph.remote.Close()
	s.eph.localPresence.Close()
	s.eph.presenceOut.Close()
	s.eph.remotePresence.Close()
}

// MarkRead records that a local user has read a room up to an event, and
// (unless Config.Receipts is off) sends an m.read receipt to the other
// servers in the room. Receipts made in quick succession leave as one EDU
// per room and server, carrying each user's newest. The receipt is stored
// before MarkRead returns, so ReadBy sees it.
func (s *Server) MarkRead(ctx context.Context, roomID, user, eventID string) error {
	uid, err := s.UserID(user)
	if err != nil {
		return err
	}
	if _, err := s.eventIn(ctx, roomID, eventID); err != nil {
		return err
	}
	if err := s.mustBeJoined(ctx, roomID, uid); err != nil {
		return err
	}
	r := storage.Receipt{RoomID: roomID, UserID: uid, Type: ephemeral.ReadReceipt, EventID: eventID, TS: now().UnixMilli()}
	if err := s.store.PutReceipt(ctx, r); err != nil {
		return fmt.Errorf("homeserver: mark read: %w", err)
	}
	if !s.eph.receipts {
		return nil
	}
	dests, err := s.otherServers(ctx, roomID)
	if err != nil {
		return fmt.Errorf("homeserver: mark read: %w", err)
	}
	for _, d := range dests {
		s.eph.coalescer.Add(d, r)
	}
	return nil
}

// ReadBy returns who has read a room up to eventID or past it, and when,
// oldest receipt first: local users through MarkRead, remote users through
// their servers' receipts. A receipt on a later message counts for the
// earlier ones ("read up to"); later means deeper in the room's graph. The
// sender of a message is not listed unless they sent a receipt: sending
// implies reading.
func (s *Server) ReadBy(ctx context.Context, roomID, eventID string) ([]Receipt, error) {
	ev, err := s.eventIn(ctx, roomID, eventID)
	if err != nil {
		return nil, err
	}
	all, err := s.store.Receipts(ctx, roomID, "")
	if err != nil {
		return nil, fmt.Errorf("homeserver: read by: %w", err)
	}
	ids := make([]string, 0, len(all))
	for _, r := range all {
		ids = append(ids, r.EventID)
	}
	slices.Sort(ids)
	evs, err := s.store.Events(ctx, slices.Compact(ids))
	if err != nil {
		return nil, fmt.Errorf("homeserver: read by: %w", err)
	}
	depths := make(map[string]int64, len(evs))
	for _, e := range evs {
		if e.RoomID == roomID && e.Status == storage.StatusAccepted {
			depths[e.EventID] = e.Depth
		}
	}
	var out []Receipt
	for _, r := range ephemeral.Readers(eventID, ev.Depth, all, depths) {
		out = append(out, Receipt{RoomID: r.RoomID, EventID: r.EventID, UserID: r.UserID, Timestamp: time.UnixMilli(r.TS)})
	}
	return out, nil
}

// Typing says whether a local user is typing in a room, and (unless
// Config.Typing is off) tells the other servers in it. A user stays typing
// for Config.TypingTimeout after the last Typing(true): call it again while
// they keep typing; the library re-announces them to the other servers
// before those forget, and announces the stop (on Typing(false) or at the
// timeout).
func (s *Server) Typing(ctx context.Context, roomID, user string, typing bool) error {
	uid, err := s.UserID(user)
	if err != nil {
		return err
	}
	if !s.eph.typing {
		return nil
	}
	if typing {
		if err := s.mustBeJoined(ctx, roomID, uid); err != nil {
			return err
		}
	}
	s.eph.local.Set(roomID, uid, typing)
	return nil
}

// TypingUsers returns who is typing in a room now, local and remote users,
// sorted. It is empty when Config.Typing is off.
func (s *Server) TypingUsers(roomID string) []string {
	if !s.eph.typing {
		return nil
	}
	users := append(s.eph.local.Users(roomID), s.eph.remote.Users(roomID)...)
	slices.Sort(users)
	return slices.Compact(users)
}

// eventIn returns an accepted event of the room.
func (s *Server) eventIn(ctx context.Context, roomID, eventID string) (storage.Event, error) {
	if _, err := s.store.Room(ctx, roomID); errors.Is(err, storage.ErrNotFound) {
		return storage.Event{}, fmt.Errorf("%w: %s", ErrUnknownRoom, roomID)
	} else if err != nil {
		return storage.Event{}, err
	}
	ev, err := s.store.Event(ctx, eventID)
	if errors.Is(err, storage.ErrNotFound) || err == nil && (ev.RoomID != roomID || ev.Status != storage.StatusAccepted) {
		return storage.Event{}, fmt.Errorf("%w: %s in %s", ErrUnknownEvent, eventID, roomID)
	}
	if err != nil {
		return storage.Event{}, err
	}
	return ev, nil
}

// mustBeJoined returns ErrNotJoined (or ErrUnknownRoom) unless the user
// is joined to the room.
func (s *Server) mustBeJoined(ctx context.Context, roomID, userID string) error {
	if _, err := s.store.Room(ctx, roomID); errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrUnknownRoom, roomID)
	} else if err != nil {
		return err
	}
	m, err := s.membershipOf(ctx, roomID, userID)
	if err != nil {
		return err
	}
	if m != spec.Join {
		return fmt.Errorf("%w: %s in %s", ErrNotJoined, userID, roomID)
	}
	return nil
}

// otherServers returns the servers other than this one with a joined
// member in the room.
func (s *Server) otherServers(ctx context.Context, roomID string) ([]string, error) {
	servers, err := s.rooms.JoinedServers(ctx, roomID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(servers, func(d string) bool { return spec.ServerName(d) == s.name }), nil
}

// flushReceipts queues one m.receipt EDU: the Coalescer's flush.
func (s *Server) flushReceipts(dest, roomID string, rs []storage.Receipt) {
	edu, err := ephemeral.EncodeReceipts(roomID, rs)
	if err != nil {
		s.log.Warn("could not encode receipts", "room_id", roomID, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ephemeralTimeout)
	defer cancel()
	if err := s.store.EnqueueEDU(ctx, dest, edu); err != nil {
		s.log.Warn("could not queue receipts", "destination", dest, "room_id", roomID, "err", err)
		return
	}
	s.sender.Wake(dest)
}

// sendTyping queues an m.typing EDU for every other server in the room.
func (s *Server) sendTyping(u ephemeral.TypingUpdate) {
	edu, err := ephemeral.EncodeTyping(u)
	if err != nil {
		s.log.Warn("could not encode typing", "room_id", u.RoomID, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ephemeralTimeout)
	defer cancel()
	dests, err := s.otherServers(ctx, u.RoomID)
	if err != nil {
		s.log.Warn("could not send typing", "room_id", u.RoomID, "err", err)
		return
	}
	for _, d := range dests {
		if err := s.store.EnqueueEDU(ctx, d, edu); err != nil {
			s.log.Warn("could not queue typing", "destination", d, "room_id", u.RoomID, "err", err)
		}
	}
	s.sender.Wake(dests...)
}

// onEDUs handles the EDUs of an inbound transaction: federation's OnEDUs.
// Bad EDUs and refused receipts are logged and dropped; /send still
// answers 200. At most ephemeral.MaxReceiptsPerEDU receipts of the whole
// transaction are looked at, so its EDUs cannot make /send slow.
func (s *Server) onEDUs(ctx context.Context, origin spec.ServerName, edus []json.RawMessage) {
	budget := ephemeral.MaxReceiptsPerEDU
	for _, raw := range edus {
		e, err := ephemeral.DecodeEDU(raw)
		if err != nil {
			s.log.Debug("dropping malformed EDU", "origin", origin, "err", err)
			continue
		}
		switch e.Type {
		case ephemeral.TypeReceipt:
			if s.eph.receipts {
				budget -= s.receiveReceipts(ctx, origin, e.Content, budget)
			}
		case ephemeral.TypeTyping:
			if s.eph.typing {
				s.receiveTyping(ctx, origin, e.Content)
			}
		case ephemeral.TypePresence:
			if s.eph.presence {
				s.receivePresence(ctx, origin, e.Content)
			}
		}
	}
}

// receiveReceipts stores the receipts of an m.receipt EDU that pass the
// checks, at most limit of them, and tells the host. It returns how many
// it looked at.
// https://spec.matrix.org/v1.16/server-server-api/#receipts
func (s *Server) receiveReceipts(ctx context.Context, origin spec.ServerName, content []byte, limit int) int {
	rs, skipped, err := ephemeral.DecodeReceipts(content)
	if len(rs) > limit {
		skipped += len(rs) - max(limit, 0)
		rs = rs[:max(limit, 0)]
	}
	if err != nil || skipped > 0 {
		s.log.Debug("m.receipt entries dropped", "origin", origin, "skipped", skipped, "err", err)
	}
	for _, r := range rs {
		if err := ephemeral.Admit(ctx, roomView{s}, origin, r.RoomID, r.UserID); err != nil {
			s.log.Info("refused receipt", "origin", origin, "room_id", r.RoomID, "user_id", r.UserID, "err", err)
			continue
		}
		r.TS = ephemeral.ClampTS(r.TS, now().UnixMilli())
		if err := s.store.PutReceipt(ctx, r); err != nil {
			s.log.Warn("could not store receipt", "origin", origin, "room_id", r.RoomID, "err", err)
			continue
		}
		if h := s.cfg.Hooks.OnReceipt; h != nil {
			rec := Receipt{RoomID: r.RoomID, EventID: r.EventID, UserID: r.UserID, Timestamp: time.UnixMilli(r.TS)}
			s.hooks.push(func(ctx context.Context) { h(ctx, rec) })
		}
	}
	return len(rs)
}

// receiveTyping applies an m.typing EDU that passes the checks.
// https://spec.matrix.org/v1.16/server-server-api/#typing-notifications
func (s *Server) receiveTyping(ctx context.Context, origin spec.ServerName, content []byte) {
	u, err := ephemeral.DecodeTyping(content)
	if err != nil {
		s.log.Debug("dropping m.typing", "origin", origin, "err", err)
		return
	}
	if err := ephemeral.Admit(ctx, roomView{s}, origin, u.RoomID, u.UserID); err != nil {
		s.log.Info("refused typing", "origin", origin, "room_id", u.RoomID, "user_id", u.UserID, "err", err)
		return
	}
	s.eph.remote.Set(u.RoomID, u.UserID, u.Typing)
}

// roomView answers package ephemeral's questions from the store and
// the rooms engine.
type roomView struct{ s *Server }

var _ ephemeral.RoomView = roomView{}

// Membership returns the user's membership in the room's current state.
func (v roomView) Membership(ctx context.Context, roomID, userID string) (string, error) {
	return v.s.membershipOf(ctx, roomID, userID)
}

// CheckServerACL applies the room's m.room.server_acl.
// https://spec.matrix.org/v1.16/server-server-api/#server-access-control-lists-acls
func (v roomView) CheckServerACL(ctx context.Context, roomID string, server spec.ServerName) error {
	return v.s.rooms.CheckServerACL(ctx, roomID, server)
}
