package stateres

import (
	"context"
	"fmt"
	"slices"

	"github.com/matrix-org/gomatrixserverlib"
)

// A node is one event of the auth graph loaded for a resolution. Nodes are
// addressed by their index in graph.nodes so that the walks below use
// slices instead of maps keyed by event ID.
type node struct {
	ev gomatrixserverlib.PDU
	id string
	// typ, sk, state and ts are read from ev on first use (graph.at): most
	// nodes only ever need their auth events.
	meta  bool
	state bool // has a state_key
	typ   string
	sk    string
	ts    int64 // origin_server_ts
	// auth lists the known auth events, in auth_events order, without
	// duplicates. In room version 12 it includes the create event, which
	// the room ID implies rather than auth_events listing it.
	auth []int32
}

// key is the node's state key.
func (n *node) key() StateKey { return StateKey{n.typ, n.sk} }

// at returns node x with its type, state key and timestamp filled in.
func (g *graph) at(x int32) *node {
	n := &g.nodes[x]
	if !n.meta {
		n.meta = true
		n.typ, n.ts = n.ev.Type(), int64(n.ev.OriginServerTS())
		if sk := n.ev.StateKey(); sk != nil {
			n.state, n.sk = true, *sk
		}
	}
	return n
}

// missing marks an event ID that was asked for but is not known.
const missing int32 = -1

// graph is the part of the room's auth graph one resolution needs: the
// state events of every set and their auth chains, each fetched once.
// It is the auth chain cache of one Resolve call.
//
// Every event ID the resolver has met gets a slot the first time it is
// seen (asked for, or named as an auth event); slots[s] is the node of
// that event once loaded, missing until then (and for good if the source
// does not know it). One map operation per ID thus registers it for the
// whole load: the auth events that cite it, the level that asks for it
// and the events returned for it all go through the slot, a slice index.
type graph struct {
	src   Events
	index map[string]int32 // event ID -> slot
	slots []int32          // slot -> node index, or missing
	nodes []node
	// impliedCreate, in room version 12, is the create event's ID: an auth
	// event of every other event whether or not its auth_events lists it.
	impliedCreate string
}

// lookup returns the node index of an event ID, or missing.
func (g *graph) lookup(id string) int32 {
	if s, ok := g.index[id]; ok {
		return g.slots[s]
	}
	return missing
}

// slot returns the slot of id and whether it is new (then the caller asks
// for it).
func (g *graph) slot(id string) (s int32, isNew bool) {
	if s, ok := g.index[id]; ok {
		return s, false
	}
	s = int32(len(g.slots))
	g.index[id] = s
	g.slots = append(g.slots, missing)
	return s, true
}

// load fetches the events named by ids and, level by level, their auth
// events, until every auth event is either loaded or known to be missing.
// Each level is one call to Events. The events named by ids (those found)
// are the nodes [lo, hi).
func (g *graph) load(ctx context.Context, ids []string) (lo, hi int32, err error) {
	if g.index == nil {
		n := len(ids) + len(ids)/8 + 16
		g.index = make(map[string]int32, n)
		g.slots = make([]int32, 0, n)
		g.nodes = make([]node, 0, n)
	}
	lo, hi = int32(len(g.nodes)), -1
	// The auth events of the new nodes, as slots while loading (an auth
	// event may be loaded by a later level), in auth_events order: node
	// lo+i's are edges[start[i]:start[i+1]].
	edges := make([]int32, 0, 4*len(ids))
	start := make([]int32, 0, len(ids)+1)

	want := make([]string, 0, len(ids)) // the IDs to ask for, slots [wantLo, ...)
	wantLo := int32(len(g.slots))
	for _, id := range ids {
		if _, isNew := g.slot(id); isNew {
			want = append(want, id)
		}
	}
	for len(want) > 0 {
		if err := ctx.Err(); err != nil {
			return lo, lo, fmt.Errorf("stateres: fetch events: %w", err)
		}
		evs, err := g.src.Events(ctx, want)
		if err != nil {
			return lo, lo, fmt.Errorf("stateres: fetch events: %w", err)
		}
		// Give each returned event its node. Sources usually answer in the
		// order asked, so the next wanted ID is tried before the map.
		levelStart := len(g.nodes)
		next := 0 // index in want of the ID expected next
		for _, ev := range evs {
			if ev == nil {
				continue
			}
			id := ev.EventID()
			var s int32
			if next < len(want) && want[next] == id {
				s = wantLo + int32(next)
			} else if s0, ok := g.index[id]; ok && s0 >= wantLo && s0 < wantLo+int32(len(want)) {
				s = s0
			} else {
				continue // not asked for
			}
			next = int(s-wantLo) + 1
			if g.slots[s] != missing {
				continue // returned twice
			}
			g.slots[s] = int32(len(g.nodes))
			g.nodes = append(g.nodes, node{ev: ev, id: id})
		}
		if hi < 0 {
			hi = int32(len(g.nodes))
		}
		// Their auth events; those not seen before make the next level.
		// (A new slice: the source may keep the one it was given.)
		wantLo, want = int32(len(g.slots)), nil
		for x := levelStart; x < len(g.nodes); x++ {
			n := &g.nodes[x]
			start = append(start, int32(len(edges)))
			auth := authEventIDs(n.ev)
			for _, aid := range auth {
				s, isNew := g.slot(aid)
				if isNew {
					want = append(want, aid)
				}
				edges = append(edges, s)
			}
			if c := g.impliedCreate; c != "" && n.id != c && !slices.Contains(auth, c) {
				s, isNew := g.slot(c)
				if isNew {
					want = append(want, c)
				}
				edges = append(edges, s)
			}
		}
	}
	start = append(start, int32(len(edges)))
	// Turn slots into nodes, dropping missing auth events and duplicates.
	// Each node's list is compacted in place (it only shrinks), so the
	// nodes share edges.
	for i := range len(g.nodes) - int(lo) {
		from, to := start[i], start[i+1]
		auth := edges[from:from:to]
		for _, s := range edges[from:to] {
			if a := g.slots[s]; a != missing && !contains(auth, a) {
				auth = append(auth, a)
			}
		}
		g.nodes[int(lo)+i].auth = auth
	}
	if hi < 0 {
		hi = lo
	}
	return lo, hi, nil
}

// authEventIDs returns the event's auth event IDs. For room version 12
// gomatrixserverlib already adds the create event implied by the room ID
// (https://spec.matrix.org/v1.16/rooms/v12/#authorization-rules: "The
// m.room.create event MUST NOT be selected for auth_events on events. The
// room_id (being the m.room.create event's ID) implies this instead.");
// load adds it too (graph.impliedCreate) in case it ever stops. A
// malformed event yields no auth events rather than a panic.
func authEventIDs(ev gomatrixserverlib.PDU) (ids []string) {
	defer func() {
		if recover() != nil {
			ids = nil
		}
	}()
	return ev.AuthEventIDs()
}

// contains reports whether s holds v.
func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ancestors marks, in mark, every node reachable from the auth events of
// the start nodes (the union of their auth chains), skipping nodes for
// which stop returns true. Nodes already marked are not walked again, so
// callers can accumulate several walks in one mark slice.
func (g *graph) ancestors(start []int32, mark []bool, stop func(int32) bool) {
	// One start at a time keeps the stack short: with many start nodes
	// (every unconflicted event) most of their auth events are marked
	// already.
	stack := make([]int32, 0, 64)
	for _, s := range start {
		stack = append(stack, g.nodes[s].auth...)
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if mark[x] || (stop != nil && stop(x)) {
				continue
			}
			mark[x] = true
			stack = append(stack, g.nodes[x].auth...)
		}
	}
}
