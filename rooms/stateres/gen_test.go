package stateres

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// genOpts shapes a generated room: a trunk that creates the room, joins
// members and changes power levels, then forks whose tips are the state
// sets to resolve.
type genOpts struct {
	version   string
	members   int // members joined on the trunk
	trunk     int // random actions on the trunk after the joins
	forks     int
	actions   int  // random actions per fork (each fork does 1..actions)
	stale     bool // sometimes cite stale auth events (trunk state) on a fork
	conflicts int  // if > 0: exactly this many member changes per fork (benchmarks)
}

// genCase is one generated resolution problem.
type genCase struct {
	version string
	sets    []StateMap
	events  MapEvents
	all     []gomatrixserverlib.PDU
}

// generator builds signed events on branches of one room.
type generator struct {
	rng     *rand.Rand
	v       gomatrixserverlib.IRoomVersion
	version string
	roomID  string
	ts      int64
	all     []gomatrixserverlib.PDU
	creator string
	users   []string // every user that may act
	nextID  int
	lastErr error
}

// branch is the state along one line of the DAG.
type branch struct {
	state map[StateKey]gomatrixserverlib.PDU
	prev  []string
	depth int64
}

func (b *branch) clone() *branch {
	s := make(map[StateKey]gomatrixserverlib.PDU, len(b.state))
	for k, v := range b.state {
		s[k] = v
	}
	return &branch{state: s, prev: append([]string(nil), b.prev...), depth: b.depth}
}

func (b *branch) stateMap() StateMap {
	s := make(StateMap, len(b.state))
	for k, v := range b.state {
		s[k] = v.EventID()
	}
	return s
}

func user(i int) string { return fmt.Sprintf("@u%d:example.com", i) }

// generate builds a room from a seed.
func generate(seed int64, o genOpts) (*genCase, error) {
	v, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(o.version))
	if err != nil {
		return nil, err
	}
	g := &generator{rng: rand.New(rand.NewSource(seed)), v: v, version: o.version, ts: 1_000_000}
	if !v.DomainlessRoomIDs() {
		g.roomID = "!gen:example.com"
	}
	g.creator = user(0)
	trunk := &branch{state: map[StateKey]gomatrixserverlib.PDU{}}
	if err := g.createRoom(trunk, o); err != nil {
		return nil, err
	}
	for i := 0; i < o.trunk; i++ {
		g.randomAction(trunk, nil)
	}
	c := &genCase{version: o.version}
	for f := 0; f < o.forks; f++ {
		b := trunk.clone()
		if o.conflicts > 0 {
			for i := 0; i < o.conflicts; i++ {
				g.memberChange(b)
			}
			if f == 0 {
				g.stateChange(b, spec.MRoomTopic, "")
			}
		} else {
			n := 1 + g.rng.Intn(o.actions)
			for i := 0; i < n; i++ {
				var stale *branch
				if o.stale && g.rng.Intn(8) == 0 {
					stale = trunk
				}
				g.randomAction(b, stale)
			}
		}
		c.sets = append(c.sets, b.stateMap())
	}
	c.all = g.all
	c.events = NewMapEvents(g.all...)
	return c, nil
}

// createRoom builds the create event, the creator's join, power levels,
// join rules and the members' joins.
func (g *generator) createRoom(b *branch, o genOpts) error {
	createContent := map[string]any{}
	if g.version == "10" {
		createContent["creator"] = g.creator
	}
	if g.version == "12" && g.rng.Intn(4) == 0 {
		createContent["additional_creators"] = []string{user(1)}
	}
	if _, ok := g.build(b, g.creator, spec.MRoomCreate, "", createContent, nil, false); !ok {
		return fmt.Errorf("generator: create event: %v", g.lastErr)
	}
	g.build(b, g.creator, spec.MRoomMember, g.creator, map[string]any{"membership": "join"}, nil, true)
	users := map[string]int64{user(2): 100, user(3): 50, user(4): 50}
	if g.version != "12" {
		users[g.creator] = 100
	}
	g.build(b, g.creator, spec.MRoomPowerLevels, "", map[string]any{"users": users, "state_default": 50, "ban": 50, "kick": 50, "invite": 0}, nil, true)
	g.build(b, g.creator, spec.MRoomJoinRules, "", map[string]any{"join_rule": "public"}, nil, true)
	g.users = append(g.users, g.creator)
	for i := 1; i <= o.members; i++ {
		u := user(i)
		g.users = append(g.users, u)
		g.build(b, u, spec.MRoomMember, u, map[string]any{"membership": "join"}, nil, true)
	}
	g.nextID = o.members + 1
	return nil
}

// build signs an event on the branch, its auth events selected from the
// branch state (or from stale, if given). With check it is applied only
// if the auth rules allow it against those auth events.
func (g *generator) build(b *branch, sender, typ, stateKey string, content any, stale *branch, check bool) (gomatrixserverlib.PDU, bool) {
	authFrom := b
	if stale != nil {
		authFrom = stale
	}
	sk := stateKey
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, false
	}
	prev := b.prev
	if prev == nil {
		prev = []string{}
	}
	proto := &gomatrixserverlib.ProtoEvent{
		SenderID: sender, RoomID: g.roomID, Type: typ, StateKey: &sk,
		PrevEvents: prev, Depth: b.depth + 1, Content: spec.RawJSON(raw),
	}
	needed, err := gomatrixserverlib.StateNeededForProtoEvent(proto)
	if err != nil {
		return nil, false
	}
	var authEvents []gomatrixserverlib.PDU
	for _, t := range needed.Tuples() {
		if ev, ok := authFrom.state[StateKey{t.EventType, t.StateKey}]; ok {
			authEvents = append(authEvents, ev)
		}
	}
	provider, err := gomatrixserverlib.NewAuthEvents(authEvents)
	if err != nil {
		return nil, false
	}
	eb := g.v.NewEventBuilderFromProtoEvent(proto)
	if typ == spec.MRoomCreate {
		eb.AuthEvents = []string{}
	} else if err := eb.AddAuthEvents(provider); err != nil {
		return nil, false
	}
	g.ts += 1 + int64(g.rng.Intn(3))
	ev, err := eb.Build(time.UnixMilli(g.ts), testServer, testKeyID, testKey)
	if err != nil {
		g.lastErr = err
		return nil, false
	}
	if typ == spec.MRoomCreate && g.v.DomainlessRoomIDs() {
		g.roomID = "!" + ev.EventID()[1:]
	}
	if check && gomatrixserverlib.Allowed(ev, provider, userIDForSender) != nil {
		return nil, false
	}
	g.all = append(g.all, ev)
	b.state[StateKey{typ, stateKey}] = ev
	b.prev = []string{ev.EventID()}
	b.depth++
	return ev, true
}

// joined lists the users whose membership on the branch is join.
func (g *generator) joined(b *branch) []string {
	var out []string
	for _, u := range g.users {
		if m, ok := b.state[StateKey{spec.MRoomMember, u}]; ok {
			if ms, _ := m.Membership(); ms == spec.Join {
				out = append(out, u)
			}
		}
	}
	return out
}

func (g *generator) pick(us []string) string {
	if len(us) == 0 {
		return g.creator
	}
	return us[g.rng.Intn(len(us))]
}

// powerful picks one of the users likely to hold power (the creator,
// the admin, the moderators) or, sometimes, anyone joined.
func (g *generator) powerful(b *branch) string {
	if g.rng.Intn(4) == 0 {
		return g.pick(g.joined(b))
	}
	return user(g.rng.Intn(5))
}

// randomAction applies one random state change to the branch.
func (g *generator) randomAction(b *branch, stale *branch) {
	joined := g.joined(b)
	switch g.rng.Intn(12) {
	case 0: // a new user joins
		u := user(g.nextID)
		g.nextID++
		g.users = append(g.users, u)
		g.build(b, u, spec.MRoomMember, u, map[string]any{"membership": "join"}, stale, true)
	case 1: // someone leaves, or rejoins
		u := g.pick(g.users)
		m := "leave"
		if g.rng.Intn(2) == 0 {
			m = "join"
		}
		g.build(b, u, spec.MRoomMember, u, map[string]any{"membership": m}, stale, true)
	case 2: // kick
		g.build(b, g.powerful(b), spec.MRoomMember, g.pick(joined), map[string]any{"membership": "leave"}, stale, true)
	case 3: // ban
		g.build(b, g.powerful(b), spec.MRoomMember, g.pick(g.users), map[string]any{"membership": "ban"}, stale, true)
	case 4: // invite
		u := user(g.nextID)
		g.nextID++
		g.users = append(g.users, u)
		g.build(b, g.pick(joined), spec.MRoomMember, u, map[string]any{"membership": "invite"}, stale, true)
	case 5, 6: // power levels
		g.powerLevels(b, stale)
	case 7: // join rules
		rule := "public"
		if g.rng.Intn(2) == 0 {
			rule = "invite"
		}
		g.build(b, g.powerful(b), spec.MRoomJoinRules, "", map[string]any{"join_rule": rule}, stale, true)
	case 8: // topic
		g.build(b, g.powerful(b), spec.MRoomTopic, "", map[string]any{"topic": fmt.Sprint(g.rng.Int())}, stale, true)
	case 9: // display name
		u := g.pick(joined)
		g.build(b, u, spec.MRoomMember, u, map[string]any{"membership": "join", "displayname": fmt.Sprint(g.rng.Intn(100))}, stale, true)
	default: // some other state
		g.build(b, g.pick(joined), "org.example.state", fmt.Sprint(g.rng.Intn(4)), map[string]any{"n": g.rng.Intn(100)}, stale, true)
	}
}

// powerLevels changes one user's level, or a threshold, from the branch's
// current power levels.
func (g *generator) powerLevels(b *branch, stale *branch) {
	cur, ok := b.state[StateKey{spec.MRoomPowerLevels, ""}]
	if !ok {
		return
	}
	var content map[string]any
	if err := json.Unmarshal(cur.Content(), &content); err != nil {
		return
	}
	levels := []int64{0, 25, 50, 75, 100}
	switch g.rng.Intn(3) {
	case 0:
		content["state_default"] = levels[g.rng.Intn(len(levels))]
	case 1:
		content["ban"] = levels[g.rng.Intn(len(levels))]
	default:
		users, _ := content["users"].(map[string]any)
		if users == nil {
			users = map[string]any{}
		}
		u := g.pick(g.users)
		if g.version == "12" && u == g.creator {
			u = user(3)
		}
		users[u] = levels[g.rng.Intn(len(levels))]
		content["users"] = users
	}
	g.build(b, g.powerful(b), spec.MRoomPowerLevels, "", content, stale, true)
}

// memberChange makes one member-keyed change on the branch (benchmarks):
// a leave, a display name change, or a kick or ban by a moderator.
func (g *generator) memberChange(b *branch) {
	for tries := 0; tries < 10; tries++ {
		u := user(5 + g.rng.Intn(g.nextID-5))
		var ok bool
		switch g.rng.Intn(4) {
		case 0:
			_, ok = g.build(b, u, spec.MRoomMember, u, map[string]any{"membership": "leave"}, nil, true)
		case 1:
			_, ok = g.build(b, u, spec.MRoomMember, u, map[string]any{"membership": "join", "displayname": fmt.Sprint(g.rng.Int())}, nil, true)
		case 2:
			_, ok = g.build(b, user(3), spec.MRoomMember, u, map[string]any{"membership": "leave"}, nil, true)
		default:
			_, ok = g.build(b, user(4), spec.MRoomMember, u, map[string]any{"membership": "ban"}, nil, true)
		}
		if ok {
			return
		}
	}
}

// stateChange sets a non-member state event on the branch.
func (g *generator) stateChange(b *branch, typ, stateKey string) {
	g.build(b, g.creator, typ, stateKey, map[string]any{"topic": fmt.Sprint(g.rng.Int())}, nil, true)
}
