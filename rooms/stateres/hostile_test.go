package stateres

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/matrix-org/gomatrixserverlib"
)

// forger returns a forge for the room version and the create event's ID
// (in room version 12 the room ID is derived from it).
func forger(t *testing.T, v string) (func(id string, fields map[string]any) gomatrixserverlib.PDU, string) {
	room, cid := "!r:example.com", "$C"
	if v == "12" {
		cid = "$" + strings.Repeat("C", 43)
		room = "!" + cid[1:]
	}
	return func(id string, fields map[string]any) gomatrixserverlib.PDU {
		if id == "$C" {
			id = cid
		}
		if auth, ok := fields["auth_events"].([]string); ok {
			for i := range auth {
				if auth[i] == "$C" {
					auth[i] = cid
				}
			}
		}
		if fields["type"] != "m.room.create" || v != "12" {
			fields["room_id"] = room
		}
		return forge(t, v, id, fields)
	}, cid
}

// forge parses an event with an ID of our choosing (as a hostile or buggy
// store could hand out), so that auth graphs can have cycles.
func forge(t *testing.T, version, id string, fields map[string]any) gomatrixserverlib.PDU {
	t.Helper()
	ev := map[string]any{
		"sender": "@alice:example.com", "prev_events": []string{},
		"auth_events": []string{}, "depth": 1, "origin_server_ts": 1, "content": map[string]any{},
		"hashes": map[string]string{"sha256": "AAAA"}, "signatures": map[string]any{},
	}
	for k, v := range fields {
		ev[k] = v
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	v, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(version))
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.NewEventFromTrustedJSONWithEventID(id, raw, false)
	if err != nil {
		t.Fatalf("forge %s: %v", id, err)
	}
	return p
}

func mustResolve(t *testing.T, version string, sets []StateMap, evs Events) StateMap {
	t.Helper()
	got, err := Resolve(context.Background(), version, sets, evs)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestZeroAndOneSet(t *testing.T) {
	got := mustResolve(t, "10", nil, nil)
	if got == nil || len(got) != 0 {
		t.Fatalf("zero sets: %v", got)
	}
	in := StateMap{{"m.room.create", ""}: "$c"}
	got = mustResolve(t, "10", []StateMap{in}, nil)
	got[StateKey{"x", ""}] = "$x"
	if len(in) != 1 {
		t.Fatal("one set: the result aliases the input")
	}
}

func TestUnsupportedVersion(t *testing.T) {
	for _, v := range []string{"1", "9", "13", "org.matrix.hydra.11", ""} {
		_, err := Resolve(context.Background(), v, []StateMap{{}, {}}, MapEvents{})
		if !errors.Is(err, ErrUnsupportedRoomVersion) {
			t.Errorf("%q: %v", v, err)
		}
	}
}

func TestAgreeingSetsFetchNothing(t *testing.T) {
	s := StateMap{{"m.room.create", ""}: "$c", {"m.room.member", "@a:x"}: "$m"}
	got := mustResolve(t, "11", []StateMap{s, s, s}, failingEvents{})
	if !reflect.DeepEqual(got, s) {
		t.Fatal(got)
	}
}

type failingEvents struct{}

var errStore = errors.New("store down")

func (failingEvents) Events(context.Context, []string) ([]gomatrixserverlib.PDU, error) {
	return nil, errStore
}

func TestSourceErrorWrapped(t *testing.T) {
	a := StateMap{{"m.room.topic", ""}: "$a"}
	b := StateMap{{"m.room.topic", ""}: "$b"}
	_, err := Resolve(context.Background(), "10", []StateMap{a, b}, failingEvents{})
	if !errors.Is(err, errStore) {
		t.Fatalf("got %v", err)
	}
}

func TestCancelled(t *testing.T) {
	c, err := generate(1, diffOpts(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Resolve(ctx, c.version, c.sets, c.events); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// TestMissingEvents: unknown events are left out, never an error or panic.
func TestMissingEvents(t *testing.T) {
	a := StateMap{{"m.room.topic", ""}: "$a", {"m.room.create", ""}: "$c"}
	b := StateMap{{"m.room.topic", ""}: "$b", {"m.room.create", ""}: "$c"}
	got := mustResolve(t, "10", []StateMap{a, b}, MapEvents{})
	if !reflect.DeepEqual(got, StateMap{{"m.room.create", ""}: "$c"}) {
		t.Fatalf("got %v", got)
	}
	// Generated rooms with a share of their events (auth events
	// included) missing.
	for seed := int64(0); seed < 200; seed++ {
		c, err := generate(seed+40_000, diffOpts(seed))
		if err != nil {
			t.Fatal(err)
		}
		partial := MapEvents{}
		for i, ev := range c.all {
			if (int64(i)+seed)%3 != 0 {
				partial[ev.EventID()] = ev
			}
		}
		if _, err := Resolve(context.Background(), c.version, c.sets, partial); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// TestAuthCycle: a forged auth cycle (impossible with real, hash-derived
// event IDs) neither hangs nor panics, in every step that walks the graph.
func TestAuthCycle(t *testing.T) {
	for _, v := range []string{"10", "12"} {
		f, cid := forger(t, v)
		_ = cid
		sk := ""
		create := f("$C", map[string]any{"type": "m.room.create", "state_key": sk, "content": map[string]any{"creator": "@alice:example.com", "room_version": v}})
		pa := f("$PA", map[string]any{"type": "m.room.power_levels", "state_key": sk, "auth_events": []string{"$C", "$PB", "$MA"}, "content": map[string]any{"users": map[string]int{"@alice:example.com": 100}}})
		pb := f("$PB", map[string]any{"type": "m.room.power_levels", "state_key": sk, "auth_events": []string{"$C", "$PA", "$MA"}, "origin_server_ts": 2})
		ma := f("$MA", map[string]any{"type": "m.room.member", "state_key": "@alice:example.com", "auth_events": []string{"$C", "$PA"}, "content": map[string]any{"membership": "join"}})
		kb := f("$KB", map[string]any{"type": "m.room.member", "state_key": "@bob:example.com", "auth_events": []string{"$C", "$PB", "$MA", "$KB"}, "content": map[string]any{"membership": "ban"}})
		tp := f("$T", map[string]any{"type": "m.room.topic", "state_key": sk, "auth_events": []string{"$C", "$PB", "$MA"}})
		evs := NewMapEvents(create, pa, pb, ma, kb, tp)
		s1 := StateMap{{"m.room.create", ""}: cid, {"m.room.power_levels", ""}: "$PA", {"m.room.member", "@alice:example.com"}: "$MA"}
		s2 := StateMap{{"m.room.create", ""}: cid, {"m.room.power_levels", ""}: "$PB", {"m.room.member", "@bob:example.com"}: "$KB", {"m.room.topic", ""}: "$T"}
		got1 := mustResolve(t, v, []StateMap{s1, s2}, evs)
		got2 := mustResolve(t, v, []StateMap{s2, s1}, evs)
		if !reflect.DeepEqual(got1, got2) {
			t.Errorf("v%s: cycle resolves differently by order", v)
		}
	}
}

// TestMalformedContent: power levels, membership and create contents the
// auth rules cannot parse count as not allowed; nothing panics.
func TestMalformedContent(t *testing.T) {
	for _, v := range []string{"10", "11", "12"} {
		f, cid := forger(t, v)
		create := f("$C", map[string]any{"type": "m.room.create", "state_key": "", "content": map[string]any{"room_version": v, "additional_creators": 5}})
		_ = cid
		ma := f("$MA", map[string]any{"type": "m.room.member", "state_key": "@alice:example.com", "auth_events": []string{"$C"}, "content": map[string]any{"membership": "join"}})
		p1 := f("$P1", map[string]any{"type": "m.room.power_levels", "state_key": "", "auth_events": []string{"$C", "$MA"}, "content": map[string]any{"users": "everyone", "ban": "high"}})
		p2 := f("$P2", map[string]any{"type": "m.room.power_levels", "state_key": "", "auth_events": []string{"$C", "$MA", "$P1"}, "content": map[string]any{"users": map[string]any{"@alice:example.com": []int{1}}}})
		m1 := f("$M1", map[string]any{"type": "m.room.member", "state_key": "@bob:example.com", "auth_events": []string{"$C", "$P1", "$MA"}, "content": map[string]any{"membership": 7}})
		m2 := f("$M2", map[string]any{"type": "m.room.member", "state_key": "@bob:example.com", "auth_events": []string{"$C", "$P2"}, "content": "not an object"})
		jr := f("$J", map[string]any{"type": "m.room.join_rules", "state_key": "", "auth_events": []string{"$C", "$P2", "$MA"}, "content": map[string]any{"join_rule": []string{}}})
		evs := NewMapEvents(create, ma, p1, p2, m1, m2, jr)
		base := StateMap{{"m.room.create", ""}: cid, {"m.room.member", "@alice:example.com"}: "$MA"}
		s1, s2 := StateMap{}, StateMap{}
		for k, id := range base {
			s1[k], s2[k] = id, id
		}
		s1[StateKey{"m.room.power_levels", ""}] = "$P1"
		s1[StateKey{"m.room.member", "@bob:example.com"}] = "$M1"
		s2[StateKey{"m.room.power_levels", ""}] = "$P2"
		s2[StateKey{"m.room.member", "@bob:example.com"}] = "$M2"
		s2[StateKey{"m.room.join_rules", ""}] = "$J"
		mustResolve(t, v, []StateMap{s1, s2}, evs)
	}
}

// TestMixedRooms: an event of another room among those the auth checks use
// is an error.
func TestMixedRooms(t *testing.T) {
	create := forge(t, "10", "$C", map[string]any{"room_id": "!r:example.com", "type": "m.room.create", "state_key": "", "content": map[string]any{"creator": "@alice:example.com"}})
	t1 := forge(t, "10", "$T1", map[string]any{"room_id": "!r:example.com", "type": "m.room.topic", "state_key": "", "auth_events": []string{"$C"}})
	t2 := forge(t, "10", "$T2", map[string]any{"type": "m.room.topic", "state_key": "", "auth_events": []string{"$C"}, "room_id": "!other:example.com"})
	s1 := StateMap{{"m.room.create", ""}: "$C", {"m.room.topic", ""}: "$T1"}
	s2 := StateMap{{"m.room.create", ""}: "$C", {"m.room.topic", ""}: "$T2"}
	_, err := Resolve(context.Background(), "10", []StateMap{s1, s2}, NewMapEvents(create, t1, t2))
	if !errors.Is(err, ErrMixedRooms) {
		t.Fatalf("got %v", err)
	}
}

// rejectingEvents marks some events rejected.
type rejectingEvents struct {
	MapEvents
	rejected map[string]bool
	asked    *[]string
}

func (r rejectingEvents) Rejected(_ context.Context, ids []string) ([]string, error) {
	*r.asked = append(*r.asked, ids...)
	var out []string
	for _, id := range ids {
		if r.rejected[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// TestRejectedAuthEvents: a rejected auth event is not used by the
// iterative auth checks. In gmsl_auth_fallback_v12 both joins pass on
// their auth events; with the join rules event rejected they cannot.
func TestRejectedAuthEvents(t *testing.T) {
	c := loadFixtures(t)["gmsl_auth_fallback_v12"]
	room, err := buildRoom(c.RoomVersion, c.Events)
	if err != nil {
		t.Fatal(err)
	}
	sets := caseSets(t, c, room)
	var asked []string
	src := rejectingEvents{room.events(), map[string]bool{room.byName["JR"].EventID(): true}, &asked}
	got := mustResolve(t, c.RoomVersion, sets, src)
	if _, ok := got[StateKey{"m.room.member", "@bob:example.com"}]; ok {
		t.Errorf("Bob's join passed on a rejected join rules event: %v", room.nameState(got))
	}
	if len(asked) == 0 {
		t.Error("Rejected was not asked")
	}
}

// noImpliedCreate hides the create event from AuthEventIDs, as a PDU
// implementation that lists only auth_events would.
type noImpliedCreate struct {
	gomatrixserverlib.PDU
	create string
}

func (e noImpliedCreate) AuthEventIDs() []string {
	var out []string
	for _, id := range e.PDU.AuthEventIDs() {
		if id != e.create {
			out = append(out, id)
		}
	}
	return out
}

// TestImpliedCreate: in room version 12 the resolver adds the create
// event (named by the room ID) to every event's auth events itself.
func TestImpliedCreate(t *testing.T) {
	for _, name := range []string{"v21_state_reset_replay_conflicted_subgraph", "v12_creator_outranks_admin", "gmsl_auth_fallback_v12"} {
		c := loadFixtures(t)[name]
		room, err := buildRoom(c.RoomVersion, c.Events)
		if err != nil {
			t.Fatal(err)
		}
		create := room.byName["CREATE"].EventID()
		src := MapEvents{}
		for _, ev := range room.order {
			src[ev.EventID()] = noImpliedCreate{ev, create}
		}
		want, _ := room.stateOf(c.Expected)
		got := mustResolve(t, c.RoomVersion, caseSets(t, c, room), src)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", name, room.nameState(got), room.nameState(want))
		}
	}
}
