package federation

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
)

// SpaceChildType is the state event type that links a space to a child.
// https://spec.matrix.org/v1.16/client-server-api/#mspacechild
const SpaceChildType = "m.space.child"

// SpaceRoomType is the m.room.create type of a space.
// https://spec.matrix.org/v1.16/client-server-api/#types
const SpaceRoomType = "m.space"

// MaxHierarchyChildren bounds how many children of a space /hierarchy
// summarises (children_state still lists them all), as Synapse does.
const MaxHierarchyChildren = 50

// SpaceChild is an m.space.child event as /hierarchy lists it: a
// stripped state event with its origin_server_ts.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1hierarchyroomid
type SpaceChild struct {
	Type           string          `json:"type"`
	StateKey       string          `json:"state_key"`
	Content        json.RawMessage `json:"content"`
	Sender         string          `json:"sender"`
	OriginServerTS int64           `json:"origin_server_ts"`
}

// HierarchyRoom is one room of a space hierarchy (the spec's
// RoomSummary): a public rooms chunk entry, the room version and, for a
// space, its m.space.child events (empty for any other room).
type HierarchyRoom struct {
	PublicRoom
	RoomVersion   string       `json:"room_version,omitempty"`
	ChildrenState []SpaceChild `json:"children_state"`
}

// Hierarchy is the answer of GET /_matrix/federation/v1/hierarchy: the
// room asked for, the children the asking server may see, and the
// children this server holds that it may not.
type Hierarchy struct {
	Room                 HierarchyRoom   `json:"room"`
	Children             []HierarchyRoom `json:"children"`
	InaccessibleChildren []string        `json:"inaccessible_children"`
}

// HierarchyVisible reports whether a server may see a room in a space
// hierarchy: rooms anyone could join or knock on, world readable rooms,
// and rooms one of its users is joined to or invited to (Synapse's
// rule; the spec says "could feasibly peek/join").
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1hierarchyroomid
func HierarchyVisible(room PublicRoom, originInRoom bool) bool {
	switch room.JoinRule {
	case "public", "knock":
		return true
	}
	return room.WorldReadable || originInRoom
}

// SpaceChildren keeps the m.space.child events that link a child (a
// room ID state key and a non-empty via list of strings), only the
// suggested ones when suggestedOnly, in the spec's order: children with
// a valid order first by order, then by origin_server_ts, then by room ID.
// https://spec.matrix.org/v1.16/client-server-api/#ordering-of-children-within-a-space
func SpaceChildren(events []SpaceChild, suggestedOnly bool) []SpaceChild {
	type keyed struct {
		ev       SpaceChild
		order    string
		hasOrder bool
	}
	var list []keyed
	for _, ev := range events {
		c, ok := parseSpaceChild(ev)
		if !ok || (suggestedOnly && !c.Suggested) {
			continue
		}
		list = append(list, keyed{ev: ev, order: c.Order, hasOrder: validOrder(c.Order)})
	}
	slices.SortStableFunc(list, func(a, b keyed) int {
		if a.hasOrder != b.hasOrder {
			if a.hasOrder {
				return -1
			}
			return 1
		}
		if a.hasOrder {
			if c := strings.Compare(a.order, b.order); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(a.ev.OriginServerTS, b.ev.OriginServerTS); c != 0 {
			return c
		}
		return strings.Compare(a.ev.StateKey, b.ev.StateKey)
	})
	out := make([]SpaceChild, len(list))
	for i, k := range list {
		out[i] = k.ev
	}
	return out
}

// spaceChildContent is what /hierarchy reads of an m.space.child content.
type spaceChildContent struct {
	Order     string
	Suggested bool
}

// parseSpaceChild reads an m.space.child event; ok is false when it does
// not link a child: another type, a state key that is not a room ID, or
// a via that is absent, empty or not a list of strings.
// https://spec.matrix.org/v1.16/client-server-api/#mspacechild
func parseSpaceChild(ev SpaceChild) (spaceChildContent, bool) {
	if ev.Type != SpaceChildType || !strings.HasPrefix(ev.StateKey, "!") {
		return spaceChildContent{}, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(ev.Content, &m) != nil {
		return spaceChildContent{}, false
	}
	var via []string
	if json.Unmarshal(m["via"], &via) != nil || len(via) == 0 {
		return spaceChildContent{}, false
	}
	var c spaceChildContent
	// A wrong type is as though the key were absent.
	_ = json.Unmarshal(m["order"], &c.Order)
	_ = json.Unmarshal(m["suggested"], &c.Suggested)
	return c, true
}

// validOrder reports whether an order value counts: 1 to 50 characters,
// each from \x20 to \x7E.
func validOrder(o string) bool {
	if o == "" || len(o) > 50 {
		return false
	}
	for i := 0; i < len(o); i++ {
		if o[i] < 0x20 || o[i] > 0x7E {
			return false
		}
	}
	return true
}
