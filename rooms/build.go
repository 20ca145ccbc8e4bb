package rooms

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
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
	// PowerLevels is the m.room.power_levels content. Empty means the
	// built-in default: the creator at 100, moderation at 50.
	PowerLevels json.RawMessage
	// CreatorMember is more content of the creator's join beside the
	// membership (e.g. displayname and avatar_url); nil for none.
	CreatorMember map[string]any
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
	server, err := ids.ServerOf(req.Creator)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadEvent, err)
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
	var powerLevels any = map[string]any{
		"users": users, "users_default": 0, "events_default": 0, "state_default": 50,
		"ban": 50, "kick": 50, "redact": 50, "invite": 50,
		"events": map[string]int64{
			spec.MRoomName: 50, spec.MRoomTopic: 50, spec.MRoomPowerLevels: 100,
			spec.MRoomHistoryVisibility: 100, "m.room.server_acl": 100,
			"m.room.tombstone": 100, "m.room.encryption": 100,
		},
	}
	if len(req.PowerLevels) > 0 {
		powerLevels = req.PowerLevels
	}
	creatorJoin := make(map[string]any, len(req.CreatorMember)+1)
	for k, val := range req.CreatorMember {
		creatorJoin[k] = val
	}
	creatorJoin["membership"] = spec.Join
	empty := ""
	type fledgling struct {
		typ      string
		stateKey string
		content  any
	}
	plan := []fledgling{
		{spec.MRoomCreate, empty, createContent},
		{spec.MRoomMember, req.Creator, creatorJoin},
		{spec.MRoomPowerLevels, empty, powerLevels},
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
		set    = stateSet{}
		snap   int64
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
		before := snap
		if i == 0 {
			if before, err = e.saveSnapshot(ctx, roomID, 0, nil, set); err != nil {
				return "", err
			}
		}
		next := set.with(ev)
		if snap, err = e.saveSnapshot(ctx, roomID, before, set, next); err != nil {
			return "", err
		}
		set = next
		state = append(state, ev)
		built = append(built, ev)
		prev = []string{ev.EventID()}
		u := update(ev, storage.StatusAccepted, "", true, nil)
		u.Event.StateBefore, u.Event.StateAfter = before, snap
		writes = append(writes, u)
	}
	pos, err := e.write(ctx, v, &storage.RoomWrite{
		Room:            &storage.Room{RoomID: roomID, Version: req.Version, CreatedTS: now.UnixMilli()},
		Events:          writes,
		StateDelta:      diff(nil, set),
		CurrentSnapshot: snap,
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
	redacts := ""
	if typ == spec.MRoomRedaction {
		redacts = gjson.GetBytes(raw, "redacts").Str
		if !redactsInContent(v.Version()) {
			// Before room version 11 the target is a top-level key.
			if raw, err = sjson.DeleteBytes(raw, "redacts"); err != nil {
				return nil, fmt.Errorf("%w: content: %v", ErrBadEvent, err)
			}
		}
		// From room version 11 the target is content.redacts, which is
		// what this server reads (RedactsOf); it is also given at the top
		// level, as Dendrite does for its own events: Dendrite v0.15.2
		// reads only that key in every version, and without it stores
		// the redaction with no target (interop TestRich05, v12). The
		// redaction algorithm strips the top-level copy, so hashes and
		// signatures are unaffected for servers that ignore it.
		// https://spec.matrix.org/v1.16/rooms/v11/#moving-the-redacts-property-of-mroomredaction-events-to-a-content-property
	}
	b := v.NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
		SenderID: sender, RoomID: roomID, Type: typ, StateKey: stateKey,
		PrevEvents: prev, Depth: depth, Content: raw, Redacts: redacts,
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
// extremities and checks it against the state there, without storing it.
// Invites use it: the invitee's server signs before the event is stored.
func (e *Engine) BuildEvent(ctx context.Context, roomID, sender, typ string, stateKey *string, content any) (gomatrixserverlib.PDU, error) {
	unlock := e.lock(roomID)
	defer unlock()
	ev, _, err := e.buildOnTop(ctx, roomID, sender, typ, stateKey, content)
	return ev, err
}

// top is where a new local event goes: the room, its prev events and the
// state before it.
type top struct {
	v         gomatrixserverlib.IRoomVersion
	room      storage.Room
	before    int64
	beforeSet stateSet
}

func (e *Engine) buildOnTop(ctx context.Context, roomID, sender, typ string, stateKey *string, content any) (gomatrixserverlib.PDU, *top, error) {
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return nil, nil, err
	}
	room, err := e.cfg.Store.Room(ctx, roomID)
	if err != nil {
		return nil, nil, fmt.Errorf("rooms: load room: %w", err)
	}
	exts, err := e.cfg.Store.ForwardExtremities(ctx, roomID)
	if err != nil {
		return nil, nil, fmt.Errorf("rooms: load extremities: %w", err)
	}
	all := len(exts) <= MaxPrevEvents
	if !all {
		exts = exts[len(exts)-MaxPrevEvents:]
	}
	prevs, err := e.cfg.Store.Events(ctx, exts)
	if err != nil {
		return nil, nil, fmt.Errorf("rooms: load prev events: %w", err)
	}
	t := &top{v: v, room: room}
	if all {
		// The current state is, by construction, the resolved state after
		// all forward extremities.
		t.before = room.CurrentSnapshot
		t.beforeSet, err = e.snapshot(ctx, t.before)
	} else {
		t.before, t.beforeSet, err = e.stateBefore(ctx, v, roomID, prevs)
	}
	if err != nil {
		return nil, nil, err
	}
	var depth int64
	for _, p := range prevs {
		depth = max(depth, p.Depth)
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: content: %v", ErrBadEvent, err)
	}
	needed, err := gomatrixserverlib.StateNeededForProtoEvent(&gomatrixserverlib.ProtoEvent{
		SenderID: sender, Type: typ, StateKey: stateKey, Content: raw, Version: v,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	keys := []skey{{Type: spec.MRoomCreate, StateKey: ""}}
	for _, tu := range needed.Tuples() {
		keys = append(keys, skey{Type: tu.EventType, StateKey: tu.StateKey})
	}
	authState, err := e.statePDUs(ctx, v, t.beforeSet, keys)
	if err != nil {
		return nil, nil, err
	}
	ev, err := e.build(v, roomID, sender, typ, stateKey, content, exts, depth+1, authState, time.Now())
	if err != nil {
		return nil, nil, err
	}
	if err := e.authCheck(ctx, v, ev, authState); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotAllowed, err)
	}
	return ev, t, nil
}

// Send builds a local event on top of the room, stores it, and queues it
// for every server in the room plus extra destinations.
func (e *Engine) Send(ctx context.Context, roomID, sender, typ string, stateKey *string, content any, extra ...string) (gomatrixserverlib.PDU, error) {
	unlock := e.lock(roomID)
	defer unlock()
	ev, t, err := e.buildOnTop(ctx, roomID, sender, typ, stateKey, content)
	if err != nil {
		return nil, err
	}
	p, err := e.placeWith(ctx, t.v, t.room, ev, t.before, t.beforeSet)
	if err != nil {
		return nil, err
	}
	return ev, e.commitLocal(ctx, t.v, t.room, p, extra)
}

// PersistLocal stores an event this server built (and that another server
// may have co-signed, as with invites) after checking it again, and queues
// it for the room's servers plus extra.
func (e *Engine) PersistLocal(ctx context.Context, ev gomatrixserverlib.PDU, extra ...string) error {
	roomID := ev.RoomID().String()
	unlock := e.lock(roomID)
	defer unlock()
	v, err := e.roomVersion(ctx, roomID)
	if err != nil {
		return err
	}
	room, err := e.cfg.Store.Room(ctx, roomID)
	if err != nil {
		return fmt.Errorf("rooms: load room: %w", err)
	}
	known, missing, err := e.prevState(ctx, ev)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: prev events unknown", ErrBadEvent)
	}
	p, err := e.place(ctx, v, room, ev, known)
	if err != nil {
		return err
	}
	return e.commitLocal(ctx, v, room, p, extra)
}

// commitLocal stores a local event, which must have passed every check,
// and queues it for the servers it concerns.
func (e *Engine) commitLocal(ctx context.Context, v gomatrixserverlib.IRoomVersion, room storage.Room, p *placed, extra []string) error {
	if p.status != storage.StatusAccepted {
		return fmt.Errorf("%w: %v", ErrNotAllowed, p.reason)
	}
	dests, err := e.destinationsFor(ctx, v, p, extra, "")
	if err != nil {
		return err
	}
	return e.commit(ctx, v, room, p, dests, true)
}

// destinationsFor lists the servers an event goes to: every server with a
// joined member before it, the server of the target of a membership event
// other than an invite (a joiner, or the kicked or banned user: the only
// servers the event can add), and extra; never this server nor skip.
func (e *Engine) destinationsFor(ctx context.Context, v gomatrixserverlib.IRoomVersion, p *placed, extra []string, skip spec.ServerName) ([]string, error) {
	set := map[string]bool{}
	servers, err := e.joinedServersOf(ctx, v, p.before)
	if err != nil {
		return nil, err
	}
	for _, s := range servers {
		set[s] = true
	}
	if p.ev.Type() == spec.MRoomMember && p.ev.StateKey() != nil {
		// The target's server must learn of a kick or ban (an invite
		// revoked, a user removed) even when none of its users is joined.
		// An invite is not sent again: the invitee's server co-signed it
		// through /invite, and a /send of it to a server outside the room
		// makes Dendrite 0.15.2 treat the room as unknown and reject its
		// later events (interop finding).
		if m, _ := p.ev.Membership(); m != spec.Invite {
			if s, err := ids.ServerOf(*p.ev.StateKey()); err == nil {
				set[string(s)] = true
			}
		}
	}
	for _, s := range extra {
		set[s] = true
	}
	delete(set, string(e.cfg.Signer.ServerName))
	delete(set, string(skip))
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
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
		Extremity:    extremity,
		Destinations: dests,
		Relation:     relationOf(ev),
	}
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	s := base64.RawURLEncoding.EncodeToString(b)
	return strings.NewReplacer("-", "a", "_", "b").Replace(s)[:n]
}
