package homeserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/federation"
	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// errNotHeld marks a room this server holds no current state of or is no
// longer joined to; it matches storage.ErrNotFound.
var errNotHeld = fmt.Errorf("homeserver: room not held: %w", storage.ErrNotFound)

// serveHierarchy answers the federation /hierarchy for origin: the room
// (with its m.space.child links when it is a space) and a summary of each
// child this server is in, as Synapse does: children origin may see go to
// Children, the others to InaccessibleChildren, and children this server
// does not hold are left out (origin asks their servers). A room origin
// may not see, or that we hold no state of, matches storage.ErrNotFound.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1hierarchyroomid
func (s *Server) serveHierarchy(ctx context.Context, origin, roomID string, suggestedOnly bool) (federation.Hierarchy, error) {
	root, visible, err := s.hierarchyRoom(ctx, origin, roomID, suggestedOnly)
	if err != nil {
		return federation.Hierarchy{}, err
	}
	if !visible {
		return federation.Hierarchy{}, fmt.Errorf("homeserver: hierarchy of %s: %s may not see it: %w", roomID, origin, storage.ErrNotFound)
	}
	h := federation.Hierarchy{Room: root, Children: []federation.HierarchyRoom{}, InaccessibleChildren: []string{}}
	for i, link := range root.ChildrenState {
		if i == federation.MaxHierarchyChildren {
			break
		}
		if link.StateKey == roomID {
			continue
		}
		child, visible, err := s.hierarchyRoom(ctx, origin, link.StateKey, suggestedOnly)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			continue
		case err != nil:
			return federation.Hierarchy{}, err
		case !visible, s.rooms.CheckServerACL(ctx, link.StateKey, spec.ServerName(origin)) != nil:
			h.InaccessibleChildren = append(h.InaccessibleChildren, link.StateKey)
		default:
			h.Children = append(h.Children, child)
		}
	}
	return h, nil
}

// hierarchyRoom summarises a room this server is joined to, with its
// space children (spaces only, in the spec's order), and says whether
// origin may see it. A room we hold no state of, or are not joined to,
// is errNotHeld.
func (s *Server) hierarchyRoom(ctx context.Context, origin, roomID string, suggestedOnly bool) (federation.HierarchyRoom, bool, error) {
	sum, err := s.stateSummary(ctx, roomID, spec.ServerName(origin))
	if err != nil {
		return federation.HierarchyRoom{}, false, err
	}
	if !sum.ours {
		return federation.HierarchyRoom{}, false, errNotHeld
	}
	version, err := s.rooms.RoomVersion(ctx, roomID)
	if err != nil {
		return federation.HierarchyRoom{}, false, fmt.Errorf("homeserver: hierarchy of %s: %w", roomID, err)
	}
	room := federation.HierarchyRoom{PublicRoom: sum.entry, RoomVersion: version, ChildrenState: []federation.SpaceChild{}}
	if room.RoomType == federation.SpaceRoomType {
		room.ChildrenState = federation.SpaceChildren(sum.children, suggestedOnly)
	}
	return room, federation.HierarchyVisible(room.PublicRoom, sum.originIn), nil
}

// roomStateSummary is what the directory and the hierarchy read of a
// room's current state.
type roomStateSummary struct {
	entry    federation.PublicRoom   // the public rooms chunk entry
	ours     bool                    // one of our users is joined
	originIn bool                    // a user of the asking server is joined or invited
	children []federation.SpaceChild // the m.space.child events, unfiltered
}

// stateSummary reads a room's current state; origin is the server asking
// ("" for none). A room without state is errNotHeld.
func (s *Server) stateSummary(ctx context.Context, roomID string, origin spec.ServerName) (roomStateSummary, error) {
	state, err := s.store.CurrentState(ctx, roomID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && len(state) == 0) {
		return roomStateSummary{}, errNotHeld
	} else if err != nil {
		return roomStateSummary{}, fmt.Errorf("homeserver: state of %s: %w", roomID, err)
	}
	var sum roomStateSummary
	contents := map[string][]byte{}
	joined := 0
	for _, ev := range state {
		if ev.StateKey == nil {
			continue
		}
		switch ev.Type {
		case spec.MRoomMember:
			m := memberContent(content.Of(ev.JSON)).Membership
			srv, err := ids.ServerOf(*ev.StateKey)
			if err != nil {
				continue
			}
			if m == spec.Join {
				joined++
				sum.ours = sum.ours || srv == s.name
			}
			// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1hierarchyroomid
			// ("could feasibly peek/join": Synapse counts joined and invited servers)
			if origin != "" && srv == origin && (m == spec.Join || m == spec.Invite) {
				sum.originIn = true
			}
		case federation.SpaceChildType:
			sum.children = append(sum.children, federation.SpaceChild{
				Type: ev.Type, StateKey: *ev.StateKey, Content: content.Of(ev.JSON), Sender: ev.Sender, OriginServerTS: ev.OriginServerTS,
			})
		default:
			if *ev.StateKey == "" {
				contents[ev.Type] = content.Of(ev.JSON)
			}
		}
	}
	sum.entry = federation.PublicRoomOf(roomID, joined, contents)
	return sum, nil
}
