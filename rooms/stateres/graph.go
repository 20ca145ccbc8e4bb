package stateres

import (
	"context"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib"
)

// A node is one event of the auth graph loaded for a resolution. Nodes are
// addressed by their index in graph.nodes so that the walks below use
// slices instead of maps keyed by event ID.
type node struct {
	ev    gomatrixserverlib.PDU
	id    string
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

// missing marks an event ID that was asked for but is not known.
const missing int32 = -1

// graph is the part of the room's auth graph one resolution needs: the
// state events of every set and their auth chains, each fetched once.
// It is the auth chain cache of one Resolve call.
type graph struct {
	src   Events
	index map[string]int32 // event ID -> node index, or missing
	nodes []node
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
// Each level is one call to Events.
func (g *graph) load(ctx context.Context, ids []string) error {
	if g.index == nil {
		g.index = make(map[string]int32, len(ids)*2)
	}
	first := len(g.nodes)
	var authIDs [][]string // raw auth IDs of nodes[first:], resolved below
	want := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, seen := g.index[id]; !seen {
			g.index[id] = missing
			want = append(want, id)
		}
	}
	for len(want) > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stateres: fetch events: %w", err)
		}
		evs, err := g.src.Events(ctx, want)
		if err != nil {
			return fmt.Errorf("stateres: fetch events: %w", err)
		}
		var next []string
		for _, ev := range evs {
			if ev == nil {
				continue
			}
			id := ev.EventID()
			if idx, asked := g.index[id]; !asked || idx != missing {
				continue // not asked for, or returned twice
			}
			g.index[id] = int32(len(g.nodes))
			n := node{ev: ev, id: id, typ: ev.Type(), ts: int64(ev.OriginServerTS())}
			if sk := ev.StateKey(); sk != nil {
				n.state, n.sk = true, *sk
			}
			g.nodes = append(g.nodes, n)
			auth := authEventIDs(ev)
			authIDs = append(authIDs, auth)
			for _, aid := range auth {
				if _, seen := g.index[aid]; !seen {
					g.index[aid] = missing
					next = append(next, aid)
				}
			}
		}
		want = next
	}
	// Resolve auth IDs to node indices now that the closure is loaded.
	for i, auth := range authIDs {
		n := &g.nodes[first+i]
		for _, aid := range auth {
			idx := g.index[aid]
			if idx == missing || contains(n.auth, idx) {
				continue
			}
			n.auth = append(n.auth, idx)
		}
	}
	return nil
}

// authEventIDs returns the event's auth event IDs. For room version 12
// gomatrixserverlib already adds the create event implied by the room ID
// (https://spec.matrix.org/v1.16/rooms/v12/#authorization-rules: "The
// m.room.create event MUST NOT be selected for auth_events ... The room_id
// (being the m.room.create event's ID) implies this instead."). A
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
