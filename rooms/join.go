package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// ErrIncompatibleVersion is returned by MakeJoin when the joining server
// supports none of the room's version.
var ErrIncompatibleVersion = fmt.Errorf("rooms: incompatible room version")

// MakeJoin answers a remote server's make_join: a join event template for
// userID on top of the room, checked against the current state so a user
// who may not join learns it now.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1make_joinroomiduserid
func (e *Engine) MakeJoin(ctx context.Context, roomID, userID string, supported []string) (gomatrixserverlib.ProtoEvent, string, error) {
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return gomatrixserverlib.ProtoEvent{}, "", err
	}
	ok := false
	for _, s := range supported {
		if s == string(v.Version()) {
			ok = true
		}
	}
	if !ok {
		return gomatrixserverlib.ProtoEvent{}, string(v.Version()), fmt.Errorf("%w: room is version %s", ErrIncompatibleVersion, v.Version())
	}
	proto, err := e.makeMembership(ctx, roomID, userID, spec.Join)
	return proto, string(v.Version()), err
}

// MakeLeave answers a remote server's make_leave: a leave template for
// userID (used to reject an invite or leave through us).
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1make_leaveroomiduserid
func (e *Engine) MakeLeave(ctx context.Context, roomID, userID string) (gomatrixserverlib.ProtoEvent, string, error) {
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return gomatrixserverlib.ProtoEvent{}, "", err
	}
	proto, err := e.makeMembership(ctx, roomID, userID, spec.Leave)
	return proto, string(v.Version()), err
}

// makeMembership builds the template for a remote user's own membership
// change. The event is fully built (signed with our key, which the remote
// server replaces) so the auth rules run before we answer.
func (e *Engine) makeMembership(ctx context.Context, roomID, userID, membership string) (gomatrixserverlib.ProtoEvent, error) {
	unlock := e.lock(roomID)
	defer unlock()
	sk := userID
	ev, _, err := e.buildOnTop(ctx, roomID, userID, spec.MRoomMember, &sk, map[string]any{"membership": membership})
	if err != nil {
		return gomatrixserverlib.ProtoEvent{}, err
	}
	return gomatrixserverlib.ProtoEvent{
		SenderID: userID, RoomID: roomID, Type: spec.MRoomMember, StateKey: &sk,
		PrevEvents: ev.PrevEventIDs(), AuthEvents: ev.AuthEventIDs(), Depth: ev.Depth(),
		Content: ev.Content(),
	}, nil
}

// SignTemplate turns a remote server's make_join or make_leave template
// into our own signed membership event: userID's membership of roomID
// becomes membership, with the template's prev and auth events. A template
// for another room, user or event type is refused (ErrBadEvent): the
// resident server must not make us sign something else.
// https://spec.matrix.org/v1.16/server-server-api/#joining-rooms
func (e *Engine) SignTemplate(version string, proto gomatrixserverlib.ProtoEvent, roomID, userID, membership string) (gomatrixserverlib.PDU, error) {
	return e.SignTemplateWith(version, proto, roomID, userID, membership, nil)
}

// SignTemplateReason is SignTemplate with a reason in the content (a
// knock's "let me in" message, a leave's why); an empty reason is left out.
// https://spec.matrix.org/v1.16/client-server-api/#mroommember
func (e *Engine) SignTemplateReason(version string, proto gomatrixserverlib.ProtoEvent, roomID, userID, membership, reason string) (gomatrixserverlib.PDU, error) {
	var extra map[string]any
	if reason != "" {
		extra = map[string]any{"reason": reason}
	}
	return e.SignTemplateWith(version, proto, roomID, userID, membership, extra)
}

// SignTemplateWith is SignTemplate with more member content beside the
// membership (e.g. the user's displayname and avatar_url); extra cannot
// change the membership.
func (e *Engine) SignTemplateWith(version string, proto gomatrixserverlib.ProtoEvent, roomID, userID, membership string, extra map[string]any) (gomatrixserverlib.PDU, error) {
	v, err := Version(version)
	if err != nil {
		return nil, err
	}
	if proto.Type != spec.MRoomMember || proto.StateKey == nil || *proto.StateKey != userID || proto.SenderID != userID || proto.RoomID != roomID {
		return nil, fmt.Errorf("%w: the template is for someone else", ErrBadEvent)
	}
	body := make(map[string]any, len(extra)+1)
	for k, val := range extra {
		body[k] = val
	}
	body["membership"] = membership
	c, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	proto.Content = c
	s := e.cfg.Signer
	ev, err := v.NewEventBuilderFromProtoEvent(&proto).Build(time.Now(), s.ServerName, s.KeyID, s.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("rooms: build %s from template: %w", membership, err)
	}
	return ev, nil
}

// SendJoinResult is what a send_join answers: the state before the join
// and the auth chain of that state and of the join.
type SendJoinResult struct {
	Event     gomatrixserverlib.PDU
	State     []gomatrixserverlib.PDU
	AuthChain []gomatrixserverlib.PDU
}

// SendJoin accepts a remote user's signed join (v2 send_join): it must be a
// join whose state_key is its sender, from a user of the origin server,
// with the path's event ID, allowed by the auth rules (a banned user's join
// is not). It is stored, sent to every other server in the room, and the
// state before it returned with the auth chain.
func (e *Engine) SendJoin(ctx context.Context, origin spec.ServerName, roomID, eventID string, raw json.RawMessage) (*SendJoinResult, error) {
	ev, state, v, err := e.sendMembership(ctx, origin, roomID, eventID, raw, spec.Join)
	if err != nil {
		return nil, err
	}
	chain, err := e.authChain(ctx, v, append(state[:len(state):len(state)], ev))
	if err != nil {
		return nil, err
	}
	return &SendJoinResult{Event: ev, State: state, AuthChain: chain}, nil
}

// SendLeave accepts a remote user's signed leave (v2 send_leave), with the
// same checks as SendJoin, and relays it to the room's servers.
func (e *Engine) SendLeave(ctx context.Context, origin spec.ServerName, roomID, eventID string, raw json.RawMessage) error {
	_, _, _, err := e.sendMembership(ctx, origin, roomID, eventID, raw, spec.Leave)
	return err
}

// sendMembership checks and stores a remote user's own join or leave made
// through us, and returns it with the state before it.
func (e *Engine) sendMembership(ctx context.Context, origin spec.ServerName, roomID, eventID string, raw json.RawMessage, membership string) (gomatrixserverlib.PDU, []gomatrixserverlib.PDU, gomatrixserverlib.IRoomVersion, error) {
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := e.CheckServerACL(ctx, roomID, origin); err != nil {
		return nil, nil, nil, err
	}
	ev, err := Parse(string(v.Version()), raw)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkMembershipEvent(ev, roomID, eventID, origin, membership); err != nil {
		return nil, nil, nil, err
	}
	if err := e.VerifySignatures(ctx, ev); err != nil {
		return nil, nil, nil, err
	}
	unlock := e.lock(roomID)
	defer unlock()
	known, missing, err := e.prevState(ctx, ev)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(missing) > 0 {
		return nil, nil, nil, fmt.Errorf("%w: prev events unknown here (not from our make_%s)", ErrBadEvent, membership)
	}
	if stored, err := e.cfg.Store.Event(ctx, ev.EventID()); err == nil && stored.Status == storage.StatusAccepted {
		// Already stored (a retried send_join): answer the same way.
		set, err := e.snapshot(ctx, stored.StateBefore)
		if err != nil {
			return nil, nil, nil, err
		}
		state, err := e.allStatePDUs(ctx, v, set)
		return ev, state, v, err
	}
	room, err := e.cfg.Store.Room(ctx, roomID)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("rooms: load room: %w", err)
	}
	p, err := e.place(ctx, v, room, ev, known)
	if err != nil {
		return nil, nil, nil, err
	}
	if p.status != storage.StatusAccepted {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrNotAllowed, p.reason)
	}
	dests, err := e.destinationsFor(ctx, v, p, nil, origin)
	if err != nil {
		return nil, nil, nil, err
	}
	// The joining server learns of its own join from our answer.
	dests = slices.DeleteFunc(dests, func(d string) bool { return d == string(origin) })
	if err := e.commit(ctx, v, room, p, dests, false); err != nil {
		return nil, nil, nil, err
	}
	state, err := e.allStatePDUs(ctx, v, p.beforeSet)
	if err != nil {
		return nil, nil, nil, err
	}
	return ev, state, v, nil
}

// checkMembershipEvent checks the shape send_join and send_leave require.
func checkMembershipEvent(ev gomatrixserverlib.PDU, roomID, eventID string, origin spec.ServerName, want string) error {
	if ev.EventID() != eventID {
		return fmt.Errorf("%w: event ID %s does not match the path's %s", ErrBadEvent, ev.EventID(), eventID)
	}
	if ev.RoomID().String() != roomID {
		return fmt.Errorf("%w: room ID does not match the path", ErrBadEvent)
	}
	if ev.Type() != spec.MRoomMember {
		return fmt.Errorf("%w: not a membership event", ErrBadEvent)
	}
	if m, err := ev.Membership(); err != nil || m != want {
		return fmt.Errorf("%w: membership is not %s", ErrBadEvent, want)
	}
	if ev.StateKey() == nil || *ev.StateKey() != string(ev.SenderID()) {
		return fmt.Errorf("%w: state_key must equal the sender", ErrBadEvent)
	}
	server, err := ids.ServerOf(string(ev.SenderID()))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	if server != origin {
		return fmt.Errorf("%w: sender %s is not on the origin server %s", ErrBadEvent, ev.SenderID(), origin)
	}
	return nil
}

// JoinFromResponse stores a room this server joined through another
// server's send_join: the auth chain and state (each event parsed, signature
// checked and auth-checked; events that fail are left out), then our join.
func (e *Engine) JoinFromResponse(ctx context.Context, version string, join gomatrixserverlib.PDU, stateJSON, authJSON []json.RawMessage) error {
	v, err := Version(version)
	if err != nil {
		return err
	}
	roomID := join.RoomID().String()
	unlock := e.lock(roomID)
	defer unlock()

	byID := map[string]gomatrixserverlib.PDU{}
	isState := map[string]bool{}
	parse := func(list []json.RawMessage, state bool) {
		for _, raw := range list {
			ev, err := Parse(version, raw)
			if err != nil || ev.RoomID().String() != roomID {
				e.log.Warn("dropping bad event from send_join", "err", err)
				continue
			}
			byID[ev.EventID()] = ev
			if state {
				isState[ev.EventID()] = true
			}
		}
	}
	parse(authJSON, false)
	parse(stateJSON, true)

	// Auth-check in depth order: an event's auth events are always older.
	ordered := make([]gomatrixserverlib.PDU, 0, len(byID))
	for _, ev := range byID {
		ordered = append(ordered, ev)
	}
	sort.Slice(ordered, func(i, j int) bool {
		if ordered[i].Depth() != ordered[j].Depth() {
			return ordered[i].Depth() < ordered[j].Depth()
		}
		return ordered[i].EventID() < ordered[j].EventID()
	})
	var create gomatrixserverlib.PDU
	for _, ev := range ordered {
		if ev.Type() == spec.MRoomCreate && ev.StateKeyEquals("") {
			create = ev
		}
	}
	if create == nil {
		return fmt.Errorf("%w: send_join response has no create event", ErrBadEvent)
	}
	if cv := gjsonString(create.Content(), "room_version"); cv != "" && cv != version && !(cv == "" && version == "1") {
		return fmt.Errorf("%w: create event says version %s, make_join said %s", ErrBadEvent, cv, version)
	}
	good := map[string]gomatrixserverlib.PDU{}
	var writes []storage.EventUpdate
	set := stateSet{}
	var state []gomatrixserverlib.PDU
	for _, ev := range ordered {
		if err := e.VerifySignatures(ctx, ev); err != nil {
			e.log.Warn("dropping unverifiable event from send_join", "event_id", ev.EventID(), "err", err)
			continue
		}
		var auth []gomatrixserverlib.PDU
		missing := false
		for _, id := range ev.AuthEventIDs() {
			a, ok := good[id]
			if !ok {
				missing = true
				break
			}
			auth = append(auth, a)
		}
		if !missing && ev.Type() != spec.MRoomCreate {
			if v.DomainlessRoomIDs() {
				auth = append(auth, create)
			}
			provider, err := gomatrixserverlib.NewAuthEvents(auth)
			if err == nil {
				err = gomatrixserverlib.Allowed(ev, provider, UserIDForSender)
			}
			if err != nil {
				missing = true
			}
		}
		if missing {
			e.log.Warn("dropping event failing auth from send_join", "event_id", ev.EventID())
			continue
		}
		good[ev.EventID()] = ev
		writes = append(writes, update(ev, storage.StatusAccepted, "", false, nil))
		if isState[ev.EventID()] && ev.StateKey() != nil {
			set[skey{Type: ev.Type(), StateKey: *ev.StateKey()}] = ev.EventID()
			state = append(state, ev)
		}
	}
	if _, ok := good[create.EventID()]; !ok {
		return fmt.Errorf("%w: the create event did not verify", ErrBadSignature)
	}
	provider, err := gomatrixserverlib.NewAuthEvents(state)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if err := gomatrixserverlib.Allowed(join, provider, UserIDForSender); err != nil {
		return fmt.Errorf("%w: our join: %v", ErrNotAllowed, err)
	}
	before, err := e.saveSnapshot(ctx, roomID, 0, nil, set)
	if err != nil {
		return err
	}
	afterSet := set.with(join)
	after, err := e.saveSnapshot(ctx, roomID, before, set, afterSet)
	if err != nil {
		return err
	}
	ju := update(join, storage.StatusAccepted, "", true, nil)
	ju.Event.StateBefore, ju.Event.StateAfter = before, after
	writes = append(writes, ju)
	var old stateSet
	if existing, err := e.cfg.Store.Room(ctx, roomID); err == nil && existing.CurrentSnapshot != 0 {
		if old, err = e.snapshot(ctx, existing.CurrentSnapshot); err != nil {
			return err
		}
	}
	pos, err := e.write(ctx, v, &storage.RoomWrite{
		Room:            &storage.Room{RoomID: roomID, Version: version, CreatedTS: time.Now().UnixMilli()},
		Events:          writes,
		StateDelta:      diff(old, afterSet),
		CurrentSnapshot: after,
		// Rejoining: what we knew of the room before is history now.
		ResetExtremities: true,
	})
	if err != nil {
		return fmt.Errorf("rooms: store joined room: %w", err)
	}
	for i, w := range writes {
		if i == len(writes)-1 {
			e.cfg.OnAccepted(Accepted{Event: join, StreamPos: pos[i], Local: true})
			continue
		}
		if isState[w.Event.EventID] {
			e.cfg.OnAccepted(Accepted{Event: good[w.Event.EventID], StreamPos: pos[i]})
		}
	}
	return nil
}
