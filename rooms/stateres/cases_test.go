package stateres

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"
)

// TestCases runs every testdata/*.json case. Each case says what the spec
// requires ("expected") and why ("reason"); cases where gomatrixserverlib's
// spec-correct resolver disagrees, and cases documenting that it agrees,
// also record what it does, and the test checks that it still does so.
func TestCases(t *testing.T) {
	for name, c := range loadFixtures(t) {
		t.Run(name, func(t *testing.T) {
			room, err := buildRoom(c.RoomVersion, c.Events)
			if err != nil {
				t.Fatal(err)
			}
			switch c.Kind {
			case "", "resolve":
				runResolveCase(t, c, room)
			case "power_order":
				runPowerOrderCase(t, c, room)
			case "auth_difference", "conflicted_subgraph":
				runDifferenceCase(t, c, room)
			case "sender_power":
				runSenderPowerCase(t, c, room)
			default:
				t.Fatalf("unknown kind %q", c.Kind)
			}
		})
	}
}

// caseSets builds the state sets of a case.
func caseSets(t *testing.T, c *fixtureCase, room *builtRoom) []StateMap {
	t.Helper()
	sets := make([]StateMap, len(c.StateSets))
	for i, names := range c.StateSets {
		s, err := room.stateOf(names)
		if err != nil {
			t.Fatalf("state set %d: %v", i, err)
		}
		sets[i] = s
	}
	return sets
}

func runResolveCase(t *testing.T, c *fixtureCase, room *builtRoom) {
	sets := caseSets(t, c, room)
	want, err := room.stateOf(c.Expected)
	if err != nil {
		t.Fatalf("expected: %v", err)
	}
	got, err := Resolve(context.Background(), c.RoomVersion, sets, room.events())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resolved state\n got %v\nwant %v\nbecause %s", room.nameState(got), room.nameState(want), c.Reason)
	}
	if c.Gmsl == nil {
		return
	}
	gm, err := gmslResolve(c.RoomVersion, sets, room.order)
	switch {
	case c.Gmsl.Panics:
		if err == nil {
			t.Errorf("gomatrixserverlib no longer panics (gives %v): update the case", room.nameState(gm))
		}
	case err != nil:
		t.Errorf("gomatrixserverlib: %v", err)
	default:
		gwant, err := room.stateOf(c.Gmsl.Expected)
		if err != nil {
			t.Fatalf("gomatrixserverlib.expected: %v", err)
		}
		if !reflect.DeepEqual(gm, gwant) {
			t.Errorf("gomatrixserverlib now gives %v, case records %v: update the case", room.nameState(gm), room.nameState(gwant))
		}
		if c.Gmsl.Quirks != "" {
			q, ok := quirkByName(c.Gmsl.Quirks)
			if !ok {
				t.Fatalf("unknown quirks %q", c.Gmsl.Quirks)
			}
			emulated, err := resolveWith(context.Background(), c.RoomVersion, sets, room.events(), hooksFor(q))
			if err != nil || !reflect.DeepEqual(emulated, gwant) {
				t.Errorf("our resolver with %s gives %v, not gomatrixserverlib's %v", q, room.nameState(emulated), room.nameState(gwant))
			}
		}
	}
}

// newCaseResolver loads a case's events into a resolver for tests of one
// definition of the algorithm.
func newCaseResolver(t *testing.T, c *fixtureCase, room *builtRoom) *resolver {
	t.Helper()
	algo, err := algorithmFor(c.RoomVersion)
	if err != nil {
		t.Fatal(err)
	}
	r := &resolver{algo: algo, version: c.RoomVersion, src: room.events()}
	r.g.src = r.src
	var ids []string
	for _, ev := range room.order {
		ids = append(ids, ev.EventID())
	}
	if _, _, err := r.g.load(context.Background(), ids); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *resolver) nodeOf(t *testing.T, room *builtRoom, name string) int32 {
	t.Helper()
	ev, ok := room.byName[name]
	if !ok {
		t.Fatalf("unknown event %q", name)
	}
	return r.g.lookup(ev.EventID())
}

func runPowerOrderCase(t *testing.T, c *fixtureCase, room *builtRoom) {
	r := newCaseResolver(t, c, room)
	n := len(r.g.nodes)
	inX, region := make([]bool, n), make([]bool, n)
	var xs []int32
	for _, name := range c.Sort {
		x := r.nodeOf(t, room, name)
		inX[x], region[x] = true, true
		xs = append(xs, x)
	}
	r.g.ancestors(xs, region, nil)
	r.power = make([]int64, n)
	for _, x := range xs {
		r.power[x] = r.senderPower(x)
	}
	var got []string
	for _, x := range r.powerOrder(xs, inX, region) {
		got = append(got, room.names[r.g.nodes[x].id])
	}
	if !reflect.DeepEqual(got, c.Expected) {
		t.Errorf("order %v, want %v because %s", got, c.Expected, c.Reason)
	}
}

func runDifferenceCase(t *testing.T, c *fixtureCase, room *builtRoom) {
	r := newCaseResolver(t, c, room)
	sets := caseSets(t, c, room)
	unconflicted, conflictedIDs, perSetIDs := split(sets)
	marks := make([]bool, len(r.g.nodes))
	if c.Kind == "auth_difference" {
		var ucNodes []int32
		for _, id := range unconflicted {
			ucNodes = append(ucNodes, r.g.lookup(id))
		}
		perSet := make([][]int32, len(perSetIDs))
		for i, s := range perSetIDs {
			perSet[i] = known(&r.g, s)
		}
		r.authDifference(ucNodes, perSet, marks)
	} else {
		r.conflictedSubgraph(known(&r.g, conflictedIDs), marks)
	}
	got := []string{}
	for x, m := range marks {
		if m {
			got = append(got, room.names[r.g.nodes[x].id])
		}
	}
	sort.Strings(got)
	want := append([]string{}, c.Expected...)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s %v, want %v because %s", c.Kind, got, want, c.Reason)
	}
}

func runSenderPowerCase(t *testing.T, c *fixtureCase, room *builtRoom) {
	r := newCaseResolver(t, c, room)
	for name, w := range c.Power {
		var want int64
		switch w := w.(type) {
		case float64:
			want = int64(w)
		case string:
			if w != "infinite" {
				t.Fatalf("%s: power %q", name, w)
			}
			want = creatorPower
		default:
			t.Fatalf("%s: power %v", name, w)
		}
		if got := r.senderPower(r.nodeOf(t, room, name)); got != want {
			t.Errorf("%s: sender power %s, want %s because %s", name, powerString(got), powerString(want), c.Reason)
		}
	}
}

func powerString(p int64) string {
	if p == creatorPower {
		return "infinite"
	}
	return fmt.Sprint(p)
}
