package stateres

import (
	"context"
	"math/rand"
	"reflect"
	"testing"

	"github.com/matrix-org/gomatrixserverlib"
)

// shuffledEvents returns the known events in a random order, to check that
// the result does not depend on the order an event source answers in.
type shuffledEvents struct {
	m   MapEvents
	rng *rand.Rand
}

func (s shuffledEvents) Events(ctx context.Context, ids []string) ([]gomatrixserverlib.PDU, error) {
	out, err := s.m.Events(ctx, ids)
	s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out, err
}

// permutations returns every ordering of n items (n small) or count random ones.
func permutations(n, count int, rng *rand.Rand) [][]int {
	var out [][]int
	if n <= 4 {
		var rec func(p []int, used []bool)
		rec = func(p []int, used []bool) {
			if len(p) == n {
				out = append(out, append([]int(nil), p...))
				return
			}
			for i := 0; i < n; i++ {
				if !used[i] {
					used[i] = true
					rec(append(p, i), used)
					used[i] = false
				}
			}
		}
		rec(nil, make([]bool, n))
		return out
	}
	for i := 0; i < count; i++ {
		out = append(out, rng.Perm(n))
	}
	return out
}

// TestConvergence: resolving the same state sets in any order, with the
// event source answering in any order, and with any set repeated, gives
// the same state.
func TestConvergence(t *testing.T) {
	n := envInt("STATERES_CONVERGENCE_CASES", 300)
	if testing.Short() || raceEnabled {
		n = 60
	}
	for seed := int64(0); seed < int64(n); seed++ {
		o := diffOpts(seed)
		o.forks = 2 + int(seed%4)
		c, err := generate(seed+10_000, o)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewSource(seed))
		want, err := Resolve(context.Background(), c.version, c.sets, c.events)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, perm := range permutations(len(c.sets), 6, rng) {
			sets := make([]StateMap, len(perm))
			for i, p := range perm {
				sets[i] = c.sets[p]
			}
			sets = append(sets, sets[rng.Intn(len(sets))]) // a repeated set changes nothing
			got, err := Resolve(context.Background(), c.version, sets, shuffledEvents{c.events, rng})
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d: order %v gives a different state", seed, perm)
			}
		}
	}
}

// TestManySets resolves more than 64 state sets (the auth difference keeps
// one bit per set in 64-bit words): 70 copies of three forks must resolve
// like the three forks.
func TestManySets(t *testing.T) {
	for seed := int64(0); seed < 20; seed++ {
		o := diffOpts(seed)
		o.forks = 3
		c, err := generate(seed+20_000, o)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Resolve(context.Background(), c.version, c.sets, c.events)
		if err != nil {
			t.Fatal(err)
		}
		var many []StateMap
		for i := 0; i < 70; i++ {
			many = append(many, c.sets[(i*7)%3])
		}
		got, err := Resolve(context.Background(), c.version, many, c.events)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: 70 sets resolve differently from 3", seed)
		}
	}
}

// TestUnconflictedKept: every key on which all sets agree keeps its value.
func TestUnconflictedKept(t *testing.T) {
	for seed := int64(0); seed < 100; seed++ {
		c, err := generate(seed+30_000, diffOpts(seed))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Resolve(context.Background(), c.version, c.sets, c.events)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c.sets[0] {
			agreed := true
			for _, s := range c.sets[1:] {
				if s[k] != v {
					agreed = false
				}
			}
			if agreed && got[k] != v {
				t.Fatalf("seed %d: unconflicted %v changed", seed, k)
			}
		}
	}
}

// TestAuthDifferenceDefinition checks authDifference against the
// definition it implements, computed naively: C_i is every event of S_i
// and every event reachable from them through auth_events (each state
// event counted in its own set's chain, as Synapse does), and the auth
// difference is ∪C_i − ∩C_i. In particular no unconflicted event is ever
// in it. Some cases repeat the forks past 64 sets.
func TestAuthDifferenceDefinition(t *testing.T) {
	for seed := int64(0); seed < 200; seed++ {
		c, err := generate(seed+40_000, diffOpts(seed))
		if err != nil {
			t.Fatal(err)
		}
		sets := c.sets
		if seed%10 == 0 {
			sets = nil
			for i := 0; i < 70; i++ {
				sets = append(sets, c.sets[(i*7)%len(c.sets)])
			}
		}
		algo, err := algorithmFor(c.version)
		if err != nil {
			t.Fatal(err)
		}
		unconflicted, _, perSetIDs := split(sets)
		r := &resolver{algo: algo, version: c.version, src: c.events}
		r.g.src = r.src
		if c.version == "12" {
			r.g.impliedCreate = unconflicted[StateKey{"m.room.create", ""}]
		}
		var ids []string
		for _, ev := range c.all {
			ids = append(ids, ev.EventID())
		}
		if _, _, err := r.g.load(context.Background(), ids); err != nil {
			t.Fatal(err)
		}
		g := &r.g
		var ucNodes []int32
		for _, id := range unconflicted {
			ucNodes = append(ucNodes, g.lookup(id))
		}
		perSet := make([][]int32, len(perSetIDs))
		for i, s := range perSetIDs {
			perSet[i] = known(g, s)
		}
		got := make([]bool, len(g.nodes))
		r.authDifference(ucNodes, perSet, got)

		count := make([]int, len(g.nodes))
		for _, s := range sets {
			chain := make([]bool, len(g.nodes))
			var stack []int32
			for _, id := range s {
				if x := g.lookup(id); x != missing {
					stack = append(stack, x)
				}
			}
			for len(stack) > 0 {
				x := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if chain[x] {
					continue
				}
				chain[x] = true
				stack = append(stack, g.nodes[x].auth...)
			}
			for x, in := range chain {
				if in {
					count[x]++
				}
			}
		}
		for x := range g.nodes {
			want := count[x] > 0 && count[x] < len(sets)
			if got[x] != want {
				t.Fatalf("seed %d: %s in the auth difference: %v, want %v", seed, g.nodes[x].id, got[x], want)
			}
		}
		for _, x := range ucNodes {
			if got[x] {
				t.Fatalf("seed %d: unconflicted %s in the auth difference", seed, g.nodes[x].id)
			}
		}
	}
}
