package rooms

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// CreateRequest describes a new room.
type CreateRequest struct {
	Creator  string // full user ID of a local user
	Version  string // "10", "11" or "12"; empty means "10"
	Name     string
	Topic    string
	JoinRule string // "invite" (default) or "public"
	// ExtraContent is merged into the create event's content (e.g. "type").
	ExtraContent map[string]any
}

// DefaultVersion is the room version used when a request names none.
const DefaultVersion = "10"

// CreateRoom builds the events that start a room (create, the creator's
// join, power levels, join rules, history visibility, name, topic) and
// stores them in one atomic write.
func (e *Engine) CreateRoom(ctx context.Context, req CreateRequest) (string, error) {
	if req.Version == "" {
		req.Version = DefaultVersion
	}
	v, err := Version(req.Version)
	if err != nil {
		return "", err
	}
	server, err := ServerOf(req.Creator)
	if err != nil {
		return "", err
	}
	if server != e.cfg.Signer.ServerName {
		return "", fmt.Errorf("%w: creator %s is not a local user", ErrBadEvent, req.Creator)
	}
	joinRule := req.JoinRule
	if joinRule == "" {
		joinRule = spec.Invite
	}

	createContent := map[string]any{"room_version": req.Version}
	if v.CreatorInCreateEvent() {
		// Rooms before v11 name the creator in the content.
		createContent["creator"] = req.Creator
	}
	for k, val := range req.ExtraContent {
		createContent[k] = val
	}
	users := map[string]int64{}
	if !v.PrivilegedCreators() {
		// v12 creators have infinite power and must not be listed.
		users[req.Creator] = 100
	}
	empty := ""
	type fledgling struct {
		typ      string
		stateKey string
		content  any
	}
	plan := []fledgling{
		{spec.MRoomCreate, empty, createContent},
		{spec.MRoomMember, req.Creator, map[string]any{"membership": spec.Join}},
		{spec.MRoomPowerLevels, empty, map[string]any{
			"users": users, "users_default": 0, "events_default": 0, "state_default": 50,
			"ban": 50, "kick": 50, "redact": 50, "invite": 50,
			"events": map[string]int64{
				spec.MRoomName: 50, spec.MRoomTopic: 50, spec.MRoomPowerLevels: 100,
				spec.MRoomHistoryVisibility: 100, "m.room.server_acl": 100,
				"m.room.tombstone": 100, "m.room.encryption": 100,
			},
		}},
		{spec.MRoomJoinRules, empty, map[string]any{"join_rule": joinRule}},
		{spec.MRoomHistoryVisibility, empty, map[string]any{"history_visibility": "shared"}},
	}
	if req.Name != "" {
		plan = append(plan, fledgling{spec.MRoomName, empty, map[string]any{"name": req.Name}})
	}
	if req.Topic != "" {
		plan = append(plan, fledgling{spec.MRoomTopic, empty, map[string]any{"topic": req.Topic}})
	}

	roomID := ""
	if !v.DomainlessRoomIDs() {
		roomID = "!" + randomString(18) + ":" + string(e.cfg.Signer.ServerName)
	}
	var (
		state  []gomatrixserverlib.PDU
		prev   []string
		writes []storage.EventUpdate
		built  []gomatrixserverlib.PDU
	)
	now := time.Now()
	for i, f := range plan {
		sk := f.stateKey
		rid := roomID
		if i == 0 && v.DomainlessRoomIDs() {
			rid = ""
		}
		ev, err := e.build(v, rid, req.Creator, f.typ, &sk, f.content, prev, int64(i+1), state, now)
		if err != nil {
			return "", fmt.Errorf("rooms: create room: build %s: %w", f.typ, err)
		}
		if i == 0 && v.DomainlessRoomIDs() {
			roomID = "!" + ev.EventID()[1:]
		}
		provider, err := gomatrixserverlib.NewAuthEvents(state)
		if err != nil {
			return "", err
		}
		if err := gomatrixserverlib.Allowed(ev, provider, UserIDForSender); err != nil {
			return "", fmt.Errorf("%w: create room: %s: %v", ErrNotAllowed, f.typ, err)
		}
		state = append(state, ev)
		built = append(built, ev)
		prev = []string{ev.EventID()}
		writes = append(writes, update(ev, storage.StatusAccepted, "", true, nil))
	}
	pos, err := e.cfg.Store.WriteRoom(ctx, storage.RoomWrite{
		Room:   &storage.Room{RoomID: roomID, Version: req.Version, CreatedTS: now.UnixMilli()},
		Events: writes,
	})
	if err != nil {
		return "", fmt.Errorf("rooms: create room: %w", err)
	}
	for i, ev := range built {
		e.cfg.OnAccepted(Accepted{Event: ev, StreamPos: pos[i], Local: true})
	}
	return roomID, nil
}

// build signs a new event with auth events picked from state.
func (e *Engine) build(v gomatrixserverlib.IRoomVersion, roomID, sender, typ string, stateKey *string, content any, prev []string, depth int64, state []gomatrixserverlib.PDU, now time.Time) (gomatrixserverlib.PDU, error) {
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("%w: content: %v", ErrBadEvent, err)
	}
	if prev == nil {
		prev = []string{}
	}
	b := v.NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
		SenderID: sender, RoomID: roomID, Type: typ, StateKey: stateKey,
		PrevEvents: prev, Depth: depth, Content: raw,
	})
	provider, err := gomatrixserverlib.NewAuthEvents(state)
	if err != nil {
		return nil, err
	}
	if typ == spec.MRoomCreate {
		b.AuthEvents = []string{}
	} else if err := b.AddAuthEvents(provider); err != nil {
		return nil, fmt.Errorf("rooms: pick auth events: %w", err)
	}
	s := e.cfg.Signer
	return b.Build(now, s.ServerName, s.KeyID, s.PrivateKey)
}

// BuildEvent builds and signs an event on top of the room's forward
// extremities and checks it against the current state, without storing it.
// Invites use it: the invitee's server signs before the event is stored.
func (e *Engine) BuildEvent(ctx context.Context, roomID, sender, typ string, stateKey *string, content any) (gomatrixserverlib.PDU, error) {
	unlock := e.lock(roomID)
	defer unlock()
	ev, _, err := e.buildOnTop(ctx, roomID, sender, typ, stateKey, content)
	return ev, err
}

func (e *Engine) buildOnTop(ctx context.Context, roomID, sender, typ string, stateKey *string, content any) (gomatrixserverlib.PDU, []gomatrixserverlib.PDU, error) {
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return nil, nil, err
	}
	state, err := e.currentState(ctx, v, roomID)
	if err != nil {
		return nil, nil, err
	}
	prev, err := e.cfg.Store.ForwardExtremities(ctx, roomID)
	if err != nil {
		return nil, nil, fmt.Errorf("rooms: load extremities: %w", err)
	}
	if len(prev) > 10 {
		prev = prev[len(prev)-10:]
	}
	prevEvents, err := e.cfg.Store.Events(ctx, prev)
	if err != nil {
		return nil, nil, fmt.Errorf("rooms: load prev events: %w", err)
	}
	var depth int64
	for _, p := range prevEvents {
		depth = max(depth, p.Depth)
	}
	ev, err := e.build(v, roomID, sender, typ, stateKey, content, prev, depth+1, state, time.Now())
	if err != nil {
		return nil, nil, err
	}
	if err := e.checkAgainst(ctx, v, ev, state); err != nil {
		return nil, nil, err
	}
	return ev, state, nil
}

// checkAgainst runs the auth rules for ev against a state.
func (e *Engine) checkAgainst(ctx context.Context, v gomatrixserverlib.IRoomVersion, ev gomatrixserverlib.PDU, state []gomatrixserverlib.PDU) error {
	provider, err := e.authProvider(ctx, v, ev.RoomID().String(), state)
	if err != nil {
		return err
	}
	if err := gomatrixserverlib.Allowed(ev, provider, UserIDForSender); err != nil {
		return fmt.Errorf("%w: %v", ErrNotAllowed, err)
	}
	return nil
}

// Send builds a local event on top of the room, stores it, and queues it
// for every server in the room plus extra destinations.
func (e *Engine) Send(ctx context.Context, roomID, sender, typ string, stateKey *string, content any, extra ...string) (gomatrixserverlib.PDU, error) {
	unlock := e.lock(roomID)
	defer unlock()
	ev, state, err := e.buildOnTop(ctx, roomID, sender, typ, stateKey, content)
	if err != nil {
		return nil, err
	}
	return ev, e.persistLocal(ctx, ev, state, extra)
}

// PersistLocal stores an event this server built (and that another server
// may have co-signed, as with invites) after checking it again against the
// current state, and queues it for the room's servers plus extra.
func (e *Engine) PersistLocal(ctx context.Context, ev gomatrixserverlib.PDU, extra ...string) error {
	roomID := ev.RoomID().String()
	unlock := e.lock(roomID)
	defer unlock()
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return err
	}
	state, err := e.currentState(ctx, v, roomID)
	if err != nil {
		return err
	}
	if err := e.checkAgainst(ctx, v, ev, state); err != nil {
		return err
	}
	return e.persistLocal(ctx, ev, state, extra)
}

func (e *Engine) persistLocal(ctx context.Context, ev gomatrixserverlib.PDU, state []gomatrixserverlib.PDU, extra []string) error {
	after := applyState(state, ev)
	dests := e.destinations(after, extra, "")
	pos, err := e.cfg.Store.WriteRoom(ctx, storage.RoomWrite{Events: []storage.EventUpdate{
		update(ev, storage.StatusAccepted, "", true, dests),
	}})
	if err != nil {
		return fmt.Errorf("rooms: persist %s: %w", ev.EventID(), err)
	}
	if len(dests) > 0 {
		e.cfg.OnQueued(dests)
	}
	e.cfg.OnAccepted(Accepted{Event: ev, StreamPos: pos[0], Local: true})
	return nil
}

// applyState returns state with ev replacing its (type, state_key), or
// state unchanged for a non-state event. The input slice is not modified.
func applyState(state []gomatrixserverlib.PDU, ev gomatrixserverlib.PDU) []gomatrixserverlib.PDU {
	if ev.StateKey() == nil {
		return state
	}
	out := make([]gomatrixserverlib.PDU, 0, len(state)+1)
	for _, s := range state {
		if s.Type() == ev.Type() && s.StateKeyEquals(*ev.StateKey()) {
			continue
		}
		out = append(out, s)
	}
	return append(out, ev)
}

// update turns a PDU into a store write.
func update(ev gomatrixserverlib.PDU, status storage.EventStatus, reason string, extremity bool, dests []string) storage.EventUpdate {
	return storage.EventUpdate{
		Event: storage.Event{
			EventID: ev.EventID(), RoomID: ev.RoomID().String(), Type: ev.Type(),
			StateKey: ev.StateKey(), Sender: string(ev.SenderID()), Depth: ev.Depth(),
			OriginServerTS: int64(ev.OriginServerTS()), PrevEvents: ev.PrevEventIDs(),
			JSON: ev.JSON(), Status: status, RejectReason: reason,
		},
		SetState:     ev.StateKey() != nil && status == storage.StatusAccepted,
		Extremity:    extremity,
		Destinations: dests,
	}
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	s := base64.RawURLEncoding.EncodeToString(b)
	return strings.NewReplacer("-", "a", "_", "b").Replace(s)[:n]
}
