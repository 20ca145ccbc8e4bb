package stateres

import (
	"math/bits"
	"sort"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// A quirk is one way gomatrixserverlib's spec-correct resolver
// (ResolveStateConflictsV2New) departs from the spec. Each can be switched
// into our resolver on its own through testHooks, so that a disagreement
// between the two resolvers is explained by the smallest set of quirks
// that makes ours give gomatrixserverlib's answer.
type quirk uint

const (
	// quirkAuthSelf: in the iterative auth checks, when the partial state
	// lacks a key the auth rules need and the event has an auth event for
	// it, gomatrixserverlib adds the event being checked (AddEvent(event)
	// instead of AddEvent(authEv)), so the real auth event is never used.
	quirkAuthSelf quirk = 1 << iota
	// quirkReverseKahn: Kahn's algorithm runs from the newest events,
	// taking the largest candidate and prepending it, which is not the
	// lexicographically smallest topological ordering.
	quirkReverseKahn
	// quirkCreatorZero: with no power levels event in its auth events, a
	// sender has power 0 even when they created the room (spec and
	// Synapse: the creator has 100).
	quirkCreatorZero
	// quirkMainlineSteps: an event whose power levels chain never meets
	// the mainline gets the position of the oldest mainline event instead
	// of ∞, and ties are broken by the number of power levels events
	// walked, which the spec does not use.
	quirkMainlineSteps
	// quirkDropUnconflicted: unconflicted events are left out of the full
	// conflicted set even when they are in the auth difference.
	quirkDropUnconflicted
	// quirkXConflictedOnly: X is enlarged only with auth events that are
	// in the conflicted state set (walking through conflicted events only)
	// rather than every event of the full conflicted set in the auth chain.
	quirkXConflictedOnly
	// quirkDuplicates: an event both conflicted and in the auth difference
	// appears twice in the full conflicted set; a power event among them
	// is listed twice for Kahn's algorithm, so its auth events are counted
	// as cited twice but released once, never become free, and are put
	// first as "stray" events, before the events that cite them.
	// (Meaningful only with quirkReverseKahn.)
	quirkDuplicates
	quirkCount = iota
)

var quirkNames = []string{
	"auth-fallback-uses-event-itself", "reverse-kahn", "creator-power-zero-without-power-levels",
	"mainline-unreached-and-steps", "unconflicted-dropped-from-full-conflicted-set", "power-set-enlarged-through-conflicted-only",
	"duplicates-in-full-conflicted-set-break-sort",
}

func (q quirk) String() string {
	var names []string
	for i := 0; i < quirkCount; i++ {
		if q&(1<<i) != 0 {
			names = append(names, quirkNames[i])
		}
	}
	return strings.Join(names, "+")
}

// quirkByName parses "name+name".
func quirkByName(s string) (quirk, bool) {
	var q quirk
	for _, name := range strings.Split(s, "+") {
		found := false
		for i, n := range quirkNames {
			if n == name {
				q |= 1 << i
				found = true
			}
		}
		if !found {
			return 0, false
		}
	}
	return q, true
}

// hooksFor builds the hooks that switch the given quirks in.
func hooksFor(q quirk) *testHooks {
	h := &testHooks{}
	if q&quirkAuthSelf != 0 {
		h.authEvents = gmslAuthEvents
	}
	if q&quirkReverseKahn != 0 {
		dups := q&quirkDuplicates != 0
		h.powerOrder = func(r *resolver, xs []int32, inX, region []bool) []int32 {
			mult := map[int32]int{}
			if dups {
				mult = gmslMultiplicity(r, xs)
			}
			return gmslPowerOrder(r, xs, inX, mult)
		}
	}
	if q&quirkCreatorZero != 0 {
		h.senderPower = gmslSenderPower
	}
	if q&quirkMainlineSteps != 0 {
		h.mainlineOrder = gmslMainlineOrder
	}
	if q&(quirkDropUnconflicted|quirkXConflictedOnly) != 0 {
		drop, conflictedOnly := q&quirkDropUnconflicted != 0, q&quirkXConflictedOnly != 0
		h.selectPowerSet = func(r *resolver, full []int32) ([]int32, []int32, []bool, []bool) {
			return gmslSelectPowerSet(r, full, drop, conflictedOnly)
		}
	}
	return h
}

// quirkSets lists every set of quirks, fewest first.
func quirkSets() []quirk {
	var qs []quirk
	for q := quirk(1); q < 1<<quirkCount; q++ {
		qs = append(qs, q)
	}
	sort.SliceStable(qs, func(i, j int) bool { return bits.OnesCount(uint(qs[i])) < bits.OnesCount(uint(qs[j])) })
	return qs
}

func gmslAuthEvents(r *resolver, x int32, ps *partialState) []int32 {
	g := &r.g
	var out []int32
	for _, k := range r.neededKeys(x) {
		if s := ps.get(k); s != missing {
			out = append(out, s)
			continue
		}
		for _, a := range g.nodes[x].auth {
			if !r.rejected[a] && g.at(a).state && g.at(a).key() == k {
				out = append(out, x)
				break
			}
		}
	}
	return out
}

// gmslMultiplicity counts how often gomatrixserverlib lists each event of
// X for its sort: a power event once per appearance in its full
// conflicted set list (conflicted, and again if in the auth difference).
func gmslMultiplicity(r *resolver, xs []int32) map[int32]int {
	g := &r.g
	diff := make([]bool, len(g.nodes))
	r.authDifference(r.unconflictedNodes, r.perSet, diff)
	isConflicted := make([]bool, len(g.nodes))
	for _, c := range r.conflicted {
		isConflicted[c] = true
	}
	mult := map[int32]int{}
	for _, x := range xs {
		if g.isPowerEvent(x) && isConflicted[x] && diff[x] {
			mult[x] = 2
		}
	}
	return mult
}

func gmslPowerOrder(r *resolver, xs []int32, inX []bool, mult map[int32]int) []int32 {
	g := &r.g
	cited := map[int32]int{}
	for _, x := range xs {
		m := mult[x]
		if m == 0 {
			m = 1
		}
		for _, a := range g.nodes[x].auth {
			if inX[a] {
				cited[a] += m
			}
		}
	}
	var ready []int32
	done := map[int32]bool{}
	for _, x := range xs {
		if cited[x] == 0 {
			ready = append(ready, x)
		}
	}
	var rev []int32
	for len(ready) > 0 {
		sort.Slice(ready, func(i, j int) bool { return r.powerLess(ready[i], ready[j]) })
		x := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		rev = append(rev, x)
		done[x] = true
		for _, a := range g.nodes[x].auth {
			if inX[a] {
				cited[a]--
				if cited[a] == 0 && !done[a] {
					ready = append(ready, a)
				}
			}
		}
	}
	var out []int32
	for _, x := range xs {
		if !done[x] {
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return r.powerLess(out[i], out[j]) })
	for i := len(rev) - 1; i >= 0; i-- {
		out = append(out, rev[i])
	}
	return out
}

func gmslSenderPower(r *resolver, x int32) (int64, bool) {
	if r.g.authOfType(x, spec.MRoomPowerLevels) == missing && r.version != "12" {
		return 0, true
	}
	return 0, false
}

func gmslMainlineOrder(r *resolver, events []int32, pl int32) []int32 {
	g := &r.g
	var line []int32 // newest first
	seen := map[int32]bool{}
	for p := pl; p != missing && !seen[p]; p = g.authOfType(p, spec.MRoomPowerLevels) {
		seen[p] = true
		line = append(line, p)
	}
	pos := map[int32]int{}
	for i, p := range line {
		pos[p] = len(line) - 1 - i // oldest is 0
	}
	type key struct{ pos, steps int }
	keys := map[int32]key{}
	for _, e := range events {
		k := key{}
		walked := map[int32]bool{}
		for p := g.authOfType(e, spec.MRoomPowerLevels); p != missing && !walked[p]; p = g.authOfType(p, spec.MRoomPowerLevels) {
			walked[p] = true
			if i, ok := pos[p]; ok {
				k.pos = i
				break
			}
			k.steps++
		}
		keys[e] = k
	}
	out := append([]int32(nil), events...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := keys[out[i]], keys[out[j]]
		if a.pos != b.pos {
			return a.pos < b.pos
		}
		if a.steps != b.steps {
			return a.steps < b.steps
		}
		na, nb := g.at(out[i]), g.at(out[j])
		if na.ts != nb.ts {
			return na.ts < nb.ts
		}
		return na.id < nb.id
	})
	return out
}

func gmslSelectPowerSet(r *resolver, full []int32, drop, conflictedOnly bool) (xs, rest []int32, inX, region []bool) {
	g := &r.g
	n := len(g.nodes)
	if drop {
		var kept []int32
		for _, x := range full {
			if id, ok := r.unconflicted[g.at(x).key()]; ok && id == g.at(x).id {
				continue
			}
			kept = append(kept, x)
		}
		full = kept
	}
	isConflicted := make([]bool, n)
	for _, c := range r.conflicted {
		isConflicted[c] = true
	}
	var power []int32
	for _, x := range full {
		if g.isPowerEvent(x) {
			power = append(power, x)
		}
	}
	inX = make([]bool, n)
	region = make([]bool, n)
	g.ancestors(power, region, nil)
	for _, p := range power {
		region[p] = true
		inX[p] = true
	}
	if conflictedOnly {
		visited := make([]bool, n)
		var pull func(x int32)
		pull = func(x int32) {
			inX[x] = true
			for _, a := range g.nodes[x].auth {
				if visited[a] {
					continue
				}
				visited[a] = true
				if isConflicted[a] {
					pull(a)
				}
			}
		}
		for _, p := range power {
			pull(p)
		}
		for _, x := range full {
			if inX[x] {
				xs = append(xs, x)
			} else {
				rest = append(rest, x)
			}
		}
		return xs, rest, inX, region
	}
	for _, x := range full {
		if region[x] {
			inX[x] = true
			xs = append(xs, x)
		} else {
			rest = append(rest, x)
		}
	}
	return xs, rest, inX, region
}
