package stateres

import (
	"container/heap"
	"encoding/json"
	"math"
	"sort"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// creatorPower stands for the infinite power level of room version 12's
// room creators: greater than any power level an m.room.power_levels event
// can give.
const creatorPower int64 = math.MaxInt64

// noPosition is the mainline position ∞ of an event whose power levels
// chain never meets the mainline.
const noPosition = math.MaxInt

// isPowerEvent reports whether the node is a power event.
//
// Spec (v2 "Power events"): "A power event is a state event with type
// m.room.power_levels or m.room.join_rules, or a state event with type
// m.room.member where the membership is leave or ban and the sender does
// not match the state_key."
func (g *graph) isPowerEvent(x int32) bool {
	n := g.at(x)
	if !n.state {
		return false
	}
	switch n.typ {
	case spec.MRoomPowerLevels, spec.MRoomJoinRules:
		return true
	case spec.MRoomMember:
		if n.sk == string(n.ev.SenderID()) {
			return false
		}
		m, err := n.ev.Membership()
		return err == nil && (m == spec.Leave || m == spec.Ban)
	}
	return false
}

// authOfType returns the first auth event of x with the given type and an
// empty state key, or missing.
func (g *graph) authOfType(x int32, typ string) int32 {
	for _, a := range g.nodes[x].auth {
		if an := g.at(a); an.state && an.sk == "" && an.typ == typ {
			return a
		}
	}
	return missing
}

// senderPower is the power level of x's sender "when looking at their
// respective auth_events" (v2 "Reverse topological power ordering").
// As the auth rules define it: room version 12's creators have infinite
// power; otherwise the power levels event in auth_events decides (users,
// then users_default); with no power levels event the room creator has
// 100 and everyone else 0. A power levels event that cannot be parsed
// counts as giving 0.
func (r *resolver) senderPower(x int32) int64 {
	if r.hooks != nil && r.hooks.senderPower != nil {
		if p, ok := r.hooks.senderPower(r, x); ok {
			return p
		}
	}
	g := &r.g
	sender := string(g.nodes[x].ev.SenderID())
	create := g.authOfType(x, spec.MRoomCreate)
	if create != missing && r.version == "12" {
		for _, c := range r.creators(create) {
			if c == sender {
				return creatorPower
			}
		}
	}
	pl := g.authOfType(x, spec.MRoomPowerLevels)
	if pl == missing {
		if create != missing {
			if cs := r.creators(create); len(cs) > 0 && cs[0] == sender {
				return 100
			}
		}
		return 0
	}
	c, ok := r.powerLevels(pl)
	if !ok {
		return 0
	}
	return c.UserLevel(spec.SenderID(sender))
}

// creators returns the room creators named by a create event, the first
// being the one pre-v12 rooms call "the creator": content.creator in room
// version 10, the sender from version 11, plus content.additional_creators
// in version 12.
func (r *resolver) creators(create int32) []string {
	if cs, ok := r.creatorCache[create]; ok {
		return cs
	}
	ev := r.g.nodes[create].ev
	var content struct {
		Creator            string          `json:"creator"`
		AdditionalCreators json.RawMessage `json:"additional_creators"`
	}
	_ = json.Unmarshal(ev.Content(), &content)
	var cs []string
	if r.version == "10" {
		cs = []string{content.Creator}
	} else {
		cs = []string{string(ev.SenderID())}
	}
	if r.version == "12" && len(content.AdditionalCreators) > 0 {
		var extra []string
		if json.Unmarshal(content.AdditionalCreators, &extra) == nil {
			cs = append(cs, extra...)
		}
	}
	if r.creatorCache == nil {
		r.creatorCache = map[int32][]string{}
	}
	r.creatorCache[create] = cs
	return cs
}

// powerLevels parses (once) the content of a power levels event.
func (r *resolver) powerLevels(x int32) (*gomatrixserverlib.PowerLevelContent, bool) {
	if c, ok := r.plCache[x]; ok {
		return c, c != nil
	}
	if r.plCache == nil {
		r.plCache = map[int32]*gomatrixserverlib.PowerLevelContent{}
	}
	c, err := gomatrixserverlib.NewPowerLevelContentFromEvent(r.g.nodes[x].ev)
	if err != nil {
		r.plCache[x] = nil
		return nil, false
	}
	r.plCache[x] = &c
	return &c, true
}

// powerOrder sorts the events of X into the reverse topological power
// ordering.
//
// Spec (v2 "Reverse topological power ordering"): "the lexicographically
// smallest topological ordering based on the DAG formed by auth events
// ... x < y if x's sender has greater power level than y's sender ... or
// the senders have the same power level, but x's origin_server_ts is less
// than y's ... or ... x's event_id is less than y's event_id. [It] can be
// found by sorting the events using Kahn's algorithm for topological
// sorting, and at each step selecting, among all the candidate vertices,
// the smallest vertex using the above comparison relation."
//
// The DAG is the auth graph restricted to X, where y must follow x when x
// is anywhere in y's auth chain, also through events outside X. region
// holds X and the auth chains of its events; Kahn's algorithm runs over
// the whole region, releasing events outside X as soon as they are free
// and emitting the events of X from a heap in the order above. Events of
// X left over (only a forged auth cycle can do that) follow in that order.
func (r *resolver) powerOrder(xs []int32, inX, region []bool) []int32 {
	g := &r.g
	// Number the region and count, for each event, its auth events in it.
	var members []int32
	for x := range g.nodes {
		if region[x] {
			members = append(members, int32(x))
		}
	}
	pending := make([]int32, len(g.nodes))
	childCount := make([]int32, len(g.nodes)+1)
	for _, x := range members {
		for _, a := range g.nodes[x].auth {
			if region[a] {
				pending[x]++
				childCount[a+1]++
			}
		}
	}
	// Children (the events citing a) in CSR form.
	for i := 1; i < len(childCount); i++ {
		childCount[i] += childCount[i-1]
	}
	children := make([]int32, childCount[len(g.nodes)])
	fill := make([]int32, len(g.nodes))
	copy(fill, childCount[:len(g.nodes)])
	for _, x := range members {
		for _, a := range g.nodes[x].auth {
			if region[a] {
				children[fill[a]] = x
				fill[a]++
			}
		}
	}

	h := &powerHeap{less: r.powerLess}
	var free []int32
	push := func(x int32) {
		if inX[x] {
			heap.Push(h, x)
		} else {
			free = append(free, x)
		}
	}
	for _, x := range members {
		if pending[x] == 0 {
			push(x)
		}
	}
	out := make([]int32, 0, len(xs))
	emitted := make([]bool, len(g.nodes))
	for {
		var x int32
		switch {
		case len(free) > 0:
			x = free[len(free)-1]
			free = free[:len(free)-1]
		case h.Len() > 0:
			x = heap.Pop(h).(int32)
			out = append(out, x)
			emitted[x] = true
		default:
			if len(out) < len(xs) {
				var rest []int32
				for _, x := range xs {
					if !emitted[x] {
						rest = append(rest, x)
					}
				}
				sort.Slice(rest, func(i, j int) bool { return r.powerLess(rest[i], rest[j]) })
				out = append(out, rest...)
			}
			return out
		}
		for _, c := range children[childCount[x]:childCount[x+1]] {
			pending[c]--
			if pending[c] == 0 {
				push(c)
			}
		}
	}
}

// powerLess is the comparison relation of the reverse topological power
// ordering: greater sender power first, then smaller origin_server_ts,
// then smaller event ID.
func (r *resolver) powerLess(x, y int32) bool {
	px, py := r.power[x], r.power[y]
	if px != py {
		return px > py
	}
	nx, ny := r.g.at(x), r.g.at(y)
	if nx.ts != ny.ts {
		return nx.ts < ny.ts
	}
	return nx.id < ny.id
}

// powerHeap is a min-heap of node indices under less.
type powerHeap struct {
	items []int32
	less  func(x, y int32) bool
}

func (h *powerHeap) Len() int           { return len(h.items) }
func (h *powerHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *powerHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *powerHeap) Push(v any)         { h.items = append(h.items, v.(int32)) }
func (h *powerHeap) Pop() any {
	v := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return v
}

// mainlineOrder sorts events by the mainline ordering based on the power
// levels event pl (missing: no power levels event, so every position is ∞).
//
// Spec (v2 "Mainline ordering"): the mainline of P_0 is [P_0, P_1, ...,
// P_n] where P_i+1 is the m.room.power_levels event in the auth_events of
// P_i. For another event e, follow the power levels events of its
// auth_events [e_1, ..., e_m] (e itself not included); "Find the smallest
// index j ≥ 1 for which e_j belongs to the mainline of P. If such a j
// exists, then e_j = P_i ... Otherwise set i = ∞"; then "x < y if the
// mainline position of x is greater than the mainline position of y ...
// [then] origin_server_ts ... [then] event_id".
func (r *resolver) mainlineOrder(events []int32, pl int32) []int32 {
	g := &r.g
	// mainline[x] is x's index in the mainline plus one (0: not in it).
	mainline := make(map[int32]int, 8)
	for p, i := pl, 0; p != missing; i++ {
		if _, loop := mainline[p]; loop {
			break
		}
		mainline[p] = i + 1
		p = g.authOfType(p, spec.MRoomPowerLevels)
	}
	// memo caches the position reached from a power levels event,
	// the event itself included.
	memo := make(map[int32]int)
	const inProgress = -1
	position := func(e int32) int {
		var path []int32
		pos := noPosition
		for p := g.authOfType(e, spec.MRoomPowerLevels); p != missing; p = g.authOfType(p, spec.MRoomPowerLevels) {
			if i, ok := mainline[p]; ok {
				pos = i - 1
				break
			}
			if m, ok := memo[p]; ok {
				if m != inProgress {
					pos = m
				}
				break // inProgress: a forged cycle
			}
			memo[p] = inProgress
			path = append(path, p)
		}
		for _, p := range path {
			memo[p] = pos
		}
		return pos
	}
	pos := make(map[int32]int, len(events))
	for _, e := range events {
		pos[e] = position(e)
	}
	out := append([]int32(nil), events...)
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if pos[x] != pos[y] {
			return pos[x] > pos[y]
		}
		nx, ny := g.at(x), g.at(y)
		if nx.ts != ny.ts {
			return nx.ts < ny.ts
		}
		return nx.id < ny.id
	})
	return out
}
