package stateres

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// resolver holds the working data of one Resolve call.
type resolver struct {
	algo    algorithm
	version string
	src     Events
	g       graph

	power        []int64 // sender power of the events of X, by node
	rejected     []bool  // by node
	roomChecked  []bool  // by node
	room         string
	needed       map[int32][]StateKey
	creatorCache map[int32][]string
	plCache      map[int32]*gomatrixserverlib.PowerLevelContent

	unconflicted      StateMap
	unconflictedNodes []int32
	conflicted        []int32
	perSet            [][]int32
	hooks             *testHooks
}

// resolve runs the algorithm of the spec's "Algorithm" section
// (https://spec.matrix.org/v1.16/rooms/v11/#algorithm, and the v12 page
// for v2.1).
func (r *resolver) resolve(ctx context.Context, sets []StateMap) (StateMap, error) {
	unconflicted, conflictedIDs, perSetIDs := split(sets)
	if len(conflictedIDs) == 0 {
		return unconflicted, nil
	}

	// Load the conflicted events and their auth chains. The unconflicted
	// events (nearly all of a big room's state) are loaded only when the
	// auth difference cannot be settled without them, and otherwise only
	// those the auth checks read.
	r.g.src = r.src
	if r.version == "12" {
		r.g.impliedCreate = unconflicted[StateKey{spec.MRoomCreate, ""}]
	}
	if _, _, err := r.g.load(ctx, conflictedIDs); err != nil {
		return nil, err
	}
	g := &r.g
	conflicted := known(g, conflictedIDs)
	r.unconflicted, r.conflicted = unconflicted, conflicted
	perSet := make([][]int32, len(perSetIDs))
	for i, s := range perSetIDs {
		perSet[i] = known(g, s)
	}
	r.perSet = perSet

	// The auth difference is ∪A_i − ∩A_i − U (see authDifference). Every
	// loaded event that is an unconflicted state event is in U, and so is
	// its auth chain (loaded too): that part of U needs no more events.
	// Only an event of ∪A_i − ∩A_i outside it and not conflicted (a
	// conflicted event is in the full conflicted set anyway) needs the
	// rest of U to decide.
	isConflicted := make([]bool, len(g.nodes))
	for _, c := range conflicted {
		isConflicted[c] = true
	}
	nearU := make([]bool, len(g.nodes))
	var seeds []int32
	for x := range g.nodes {
		if n := g.at(int32(x)); n.state && unconflicted[n.key()] == n.id {
			seeds = append(seeds, int32(x))
		}
	}
	g.ancestors(seeds, nearU, nil)
	for _, x := range seeds {
		nearU[x] = true
	}
	var open []int32
	for _, x := range r.authDifferenceOutside(nearU, perSet) {
		if !isConflicted[x] {
			open = append(open, x)
		}
	}
	var diff []int32
	if len(open) > 0 || r.hooks != nil {
		// Load U itself (the differential tests' hooks use it too).
		ucIDs := make([]string, 0, len(unconflicted))
		for _, id := range unconflicted {
			ucIDs = append(ucIDs, id)
		}
		sort.Strings(ucIDs)
		if _, _, err := g.load(ctx, ucIDs); err != nil {
			return nil, err
		}
		ucNodes := known(g, ucIDs)
		r.unconflictedNodes = ucNodes
		inU := make([]bool, len(g.nodes))
		g.ancestors(ucNodes, inU, nil)
		for _, u := range ucNodes {
			inU[u] = true
		}
		for _, x := range open {
			if !inU[x] {
				diff = append(diff, x)
			}
		}
	}

	// The full conflicted set: the conflicted state set, the auth
	// difference and, in v2.1, the conflicted state subgraph.
	// Spec (v12 "Full conflicted set"): "the union of the conflicted state
	// set, the conflicted state subgraph, and the auth difference."
	inFull := make([]bool, len(g.nodes))
	for _, c := range conflicted {
		inFull[c] = true
	}
	for _, x := range diff {
		inFull[x] = true
	}
	if r.algo == algoV21 {
		r.conflictedSubgraph(conflicted, inFull)
	}
	var full []int32
	for x := range inFull {
		if inFull[x] {
			full = append(full, int32(x))
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("stateres: %w", err)
	}
	// In v2 the auth checks start from the unconflicted state map: load
	// its events at the keys the auth rules read for the full conflicted
	// set, and its power levels event (with its auth chain, for the
	// mainline), unless loaded already.
	if r.algo == algoV2 {
		var ids []string
		add := func(k StateKey) {
			if id, ok := unconflicted[k]; ok {
				if _, seen := g.index[id]; !seen {
					ids = append(ids, id)
				}
			}
		}
		add(StateKey{spec.MRoomPowerLevels, ""})
		for _, x := range full {
			for _, k := range r.neededKeys(x) {
				add(k)
			}
		}
		sort.Strings(ids)
		ids = slices.Compact(ids)
		if _, _, err := g.load(ctx, ids); err != nil {
			return nil, err
		}
	}
	nodes := len(g.nodes)
	if err := r.loadRejections(ctx, full, unconflicted); err != nil {
		return nil, err
	}
	r.roomChecked = make([]bool, nodes)

	// Step 1: "Select the set X of all power events that appear in the
	// full conflicted set. For each such power event P, enlarge X by adding
	// the events in the auth chain of P which also belong to the full
	// conflicted set. Sort X into a list using the reverse topological
	// power ordering."
	xs, rest, inX, region := r.selectPowerSet(full)
	r.power = make([]int64, nodes)
	for _, x := range xs {
		r.power[x] = r.senderPower(x)
	}
	var sorted []int32
	if r.hooks != nil && r.hooks.powerOrder != nil {
		sorted = r.hooks.powerOrder(r, xs, inX, region)
	} else {
		sorted = r.powerOrder(xs, inX, region)
	}

	// Step 2: "Apply the iterative auth checks algorithm, starting from
	// the unconflicted state map [v2.1: from an empty state map], to the
	// list of events from the previous step to get a partially resolved
	// state."
	ps := &partialState{g: g, over: make(map[StateKey]int32, len(full))}
	if r.algo == algoV2 {
		ps.base = unconflicted
	}
	if err := r.iterativeAuthChecks(sorted, ps); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("stateres: %w", err)
	}

	// Step 3: "Take all remaining events that weren't picked in step 1 and
	// order them by the mainline ordering based on the power level in the
	// partially resolved state obtained in step 2."
	pl := ps.get(StateKey{spec.MRoomPowerLevels, ""})
	if r.hooks != nil && r.hooks.mainlineOrder != nil {
		rest = r.hooks.mainlineOrder(r, rest, pl)
	} else {
		rest = r.mainlineOrder(rest, pl)
	}

	// Step 4: "Apply the iterative auth checks algorithm on the partial
	// resolved state and the list of events from the previous step."
	if err := r.iterativeAuthChecks(rest, ps); err != nil {
		return nil, err
	}

	// Step 5: "Update the result by replacing any event with the event with
	// the same key from the unconflicted state map, if such an event
	// exists, to get the final resolved state." The unconflicted map is
	// ours (split made it), so it becomes the result.
	result := unconflicted
	for k, x := range ps.over {
		if _, ok := result[k]; !ok {
			result[k] = g.nodes[x].id
		}
	}
	return result, nil
}

// known returns the node indices of the known events among ids.
func known(g *graph, ids []string) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		if x := g.lookup(id); x != missing {
			out = append(out, x)
		}
	}
	return out
}

// loadRejections asks the event source, when it implements Rejections,
// which of the events the iterative auth checks may use were rejected:
// the full conflicted set, their auth events, and the unconflicted events
// at the keys the auth rules read for them.
func (r *resolver) loadRejections(ctx context.Context, full []int32, unconflicted StateMap) error {
	g := &r.g
	r.rejected = make([]bool, len(g.nodes))
	rj, ok := r.src.(Rejections)
	if !ok {
		return nil
	}
	asked := make(map[int32]bool, len(full)*4)
	var ids []string
	ask := func(x int32) {
		if x != missing && !asked[x] {
			asked[x] = true
			ids = append(ids, g.nodes[x].id)
		}
	}
	for _, x := range full {
		ask(x)
		for _, a := range g.nodes[x].auth {
			ask(a)
		}
		if r.algo == algoV2 {
			for _, k := range r.neededKeys(x) {
				if id, ok := unconflicted[k]; ok {
					ask(g.lookup(id))
				}
			}
		}
	}
	sort.Strings(ids)
	bad, err := rj.Rejected(ctx, ids)
	if err != nil {
		return fmt.Errorf("stateres: fetch rejections: %w", err)
	}
	for _, id := range bad {
		if x := g.lookup(id); x != missing {
			r.rejected[x] = true
		}
	}
	return nil
}

// selectPowerSet returns X (the power events of the full conflicted set
// and the events of the full conflicted set in their auth chains), the
// rest of the full conflicted set, X as marks, and the region over which
// X is sorted: X and the auth chains of its events.
func (r *resolver) selectPowerSet(full []int32) (xs, rest []int32, inX, region []bool) {
	if r.hooks != nil && r.hooks.selectPowerSet != nil {
		return r.hooks.selectPowerSet(r, full)
	}
	g := &r.g
	var powerEvents []int32
	for _, x := range full {
		if g.isPowerEvent(x) {
			powerEvents = append(powerEvents, x)
		}
	}
	region = make([]bool, len(g.nodes))
	g.ancestors(powerEvents, region, nil)
	for _, p := range powerEvents {
		region[p] = true
	}
	inX = make([]bool, len(g.nodes))
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
