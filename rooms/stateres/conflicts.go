package stateres

// authDifference marks the auth difference in diff.
//
// Spec (v2 "Auth difference"): "If C_i is the full auth chain of S_i, then
// the auth difference is ∪ C_i − ∩ C_i", where the full auth chain of S_i
// is the union of the auth chains of the events in S_i. We count the
// events of S_i themselves as part of C_i, as Synapse does (its
// auth-chain-difference design) and as gomatrixserverlib's result agrees:
// read literally (an event's own chain excludes it), the spec text would
// put an unconflicted event in the difference when the state events of
// some sets cite it and those of another do not, and we would resolve
// such rooms differently from the servers we federate with.
// testdata/v2_auth_difference_unconflicted_event.json shows the case.
//
// Every set holds the unconflicted events, so C_i = U ∪ A_i where U is the
// unconflicted events with their auth chains and A_i the conflicted events
// of S_i with theirs. Then ∪C_i − ∩C_i = ∪A_i − ∩A_i − U: no unconflicted
// event is in it. U is closed under auth chains, so the walks from the
// conflicted events stop where they meet U: they visit only the events
// near the forks.
func (r *resolver) authDifference(unconflictedNodes []int32, perSet [][]int32, diff []bool) {
	g := &r.g
	inU := make([]bool, len(g.nodes))
	g.ancestors(unconflictedNodes, inU, nil)
	for _, u := range unconflictedNodes {
		inU[u] = true
	}
	for _, x := range r.authDifferenceOutside(inU, perSet) {
		diff[x] = true
	}
}

// authDifferenceOutside returns the events of ∪A_i − ∩A_i (A_i: the
// conflicted events of set i with their auth chains) not marked in inU.
// inU must be closed under auth chains (every auth event of a marked event
// is marked) and a subset of U; the walks stop at marked events. With inU
// all of U the result is the auth difference; with a part of U it is the
// auth difference plus the events of U that inU does not mark.
func (r *resolver) authDifferenceOutside(inU []bool, perSet [][]int32) []int32 {
	g := &r.g
	// bits[x*words+w] holds, for node x, which sets' chains contain it.
	nsets := len(perSet)
	words := (nsets + 63) / 64
	bits := make([]uint64, len(g.nodes)*words)
	var touched []int32
	stack := make([]int32, 0, 64)
	for i, starts := range perSet {
		w, bit := i/64, uint64(1)<<(i%64)
		stack = stack[:0]
		stack = append(stack, starts...)
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if inU[x] || bits[int(x)*words+w]&bit != 0 {
				continue
			}
			if isZero(bits[int(x)*words : int(x)*words+words]) {
				touched = append(touched, x)
			}
			bits[int(x)*words+w] |= bit
			stack = append(stack, g.nodes[x].auth...)
		}
	}
	out := touched[:0]
	for _, x := range touched {
		if !isFull(bits[int(x)*words:int(x)*words+words], nsets) {
			out = append(out, x)
		}
	}
	return out
}

// isZero reports whether no bit is set.
func isZero(ws []uint64) bool {
	for _, w := range ws {
		if w != 0 {
			return false
		}
	}
	return true
}

// isFull reports whether the first n bits are all set.
func isFull(ws []uint64, n int) bool {
	for i, w := range ws {
		want := ^uint64(0)
		if rest := n - i*64; rest < 64 {
			want = uint64(1)<<rest - 1
		}
		if w&want != want {
			return false
		}
	}
	return true
}

// conflictedSubgraph marks the conflicted state subgraph in sub.
//
// Spec (v12 "Conflicted state subgraph"): "Starting from an event in the
// conflicted state set and following auth_events edges may lead to another
// event in the conflicted state set. The union of all such paths between
// any pair of events in the conflicted state set (including endpoints)
// forms a subgraph of the original auth_event graph".
//
// An event is on such a path exactly when it is in the auth chain of a
// conflicted event and a conflicted event is in its own auth chain (or it
// is conflicted itself). The first is one walk down from the conflicted
// events; the second is computed for those events in one memoised
// depth-first pass, so the whole is linear in the auth chains' size.
func (r *resolver) conflictedSubgraph(conflicted []int32, sub []bool) {
	g := &r.g
	isConflicted := make([]bool, len(g.nodes))
	for _, c := range conflicted {
		isConflicted[c] = true
	}
	below := make([]bool, len(g.nodes)) // in the auth chain of a conflicted event
	g.ancestors(conflicted, below, nil)

	// reaches[x]: 0 unknown, 1 in progress, 2 reaches a conflicted event
	// through its auth chain, 3 does not. In-progress nodes met again (a
	// cycle, possible only with forged event IDs) count as not reaching.
	const (
		unknown, onStack, yes, no = 0, 1, 2, 3
	)
	reaches := make([]uint8, len(g.nodes))
	type frame struct {
		x    int32
		next int
	}
	var stack []frame
	for x := range g.nodes {
		if !below[x] || reaches[x] != unknown {
			continue
		}
		stack = append(stack[:0], frame{x: int32(x)})
		reaches[x] = onStack
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			auth := g.nodes[f.x].auth
			if f.next < len(auth) {
				a := auth[f.next]
				f.next++
				if reaches[a] == unknown {
					reaches[a] = onStack
					stack = append(stack, frame{x: a})
				}
				continue
			}
			result := uint8(no)
			for _, a := range auth {
				if isConflicted[a] || reaches[a] == yes {
					result = yes
					break
				}
			}
			reaches[f.x] = result
			stack = stack[:len(stack)-1]
		}
	}
	for x := range g.nodes {
		if isConflicted[x] || (below[x] && reaches[x] == yes) {
			sub[x] = true
		}
	}
}
