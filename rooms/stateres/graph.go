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
	typ   string
	sk    string
	state bool  // has a state_key
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
type graph struct {
	src   Events
	index map[string]int32 // event ID -> node index, or missing
	nodes []node
	// impliedCreate, in room version 12, is the create event's ID: an auth
	// event of every other event whether or not its auth_events lists it.
	impliedCreate string
}

// lookup returns the node index of an event ID, or missing.
func (g *graph) lookup(id string) int32 {
	if idx, ok := g.index[id]; ok {
		return idx
	}
	return missing
}

// load fetches the events named by ids and, level by level, their auth
// events, until every auth event is either loaded or known to be missing.
// Each level is one call to Events. The events named by ids (those found)
// are the nodes [lo, hi).
func (g *graph) load(ctx context.Context, ids []string) (lo, hi int32, err error) {
	if g.index == nil {
		g.index = make(map[string]int32, len(ids)+len(ids)/2)
	}
	lo, hi = int32(len(g.nodes)), -1
	type span struct{ node, start, end int32 }
	type pending struct {
		pos int32
		id  string
	}
	var spans []span
	var pend []pending
	var buf []int32 // auth slots of the new nodes, in auth_events order
	if g.nodes == nil {
		g.nodes = make([]node, 0, len(ids)+len(ids)/4+16)
	}
	want := make([]string, 0, len(ids))
	fresh := len(g.index) == 0
	for _, id := range ids {
		if fresh {
			// One map operation instead of two: a repeated ID does not
			// grow the map (nothing is registered yet to overwrite).
			before := len(g.index)
			g.index[id] = missing
			if len(g.index) > before {
				want = append(want, id)
			}
		} else if _, seen := g.index[id]; !seen {
			g.index[id] = missing
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
		// Register the level first so that auth events within it resolve
		// directly below.
		levelStart := len(g.nodes)
		for _, ev := range evs {
			if ev == nil {
				continue
			}
			id := ev.EventID()
			if idx, asked := g.index[id]; !asked || idx != missing {
				continue // not asked for, or returned twice
			}
			g.index[id] = int32(len(g.nodes))
			g.nodes = append(g.nodes, node{ev: ev, id: id})
		}
		if hi < 0 {
			hi = int32(len(g.nodes))
		}
		var next []string
		for x := levelStart; x < len(g.nodes); x++ {
			n := &g.nodes[x]
			sp := span{node: int32(x), start: int32(len(buf))}
			auth := authEventIDs(n.ev)
			if c := g.impliedCreate; c != "" && n.id != c && !slices.Contains(auth, c) {
				auth = append(auth[:len(auth):len(auth)], c)
			}
			for _, aid := range auth {
				idx, seen := g.index[aid]
				if !seen {
					g.index[aid] = missing
					next = append(next, aid)
				}
				if idx == missing || !seen {
					idx = missing
					pend = append(pend, pending{pos: int32(len(buf)), id: aid})
				}
				buf = append(buf, idx)
			}
			sp.end = int32(len(buf))
			spans = append(spans, sp)
		}
		want = next
	}
	// Resolve the auth events that were not loaded yet when their citing
	// event was, then drop missing ones and duplicates.
	for _, p := range pend {
		buf[p.pos] = g.index[p.id]
	}
	for _, sp := range spans {
		auth := buf[sp.start:sp.start:sp.end]
		for _, a := range buf[sp.start:sp.end] {
			if a != missing && !contains(auth, a) {
				auth = append(auth, a)
			}
		}
		g.nodes[sp.node].auth = auth
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
	stack := make([]int32, 0, 64)
	for _, s := range start {
		stack = append(stack, g.nodes[s].auth...)
	}
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
