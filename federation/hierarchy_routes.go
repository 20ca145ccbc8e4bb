package federation

import (
	"context"
	"errors"
	"net/http"

	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
)

// hierarchy serves GET /_matrix/federation/v1/hierarchy/{roomId}: the
// room and the children of it this server holds, as the asking server
// may see them. suggested_only must be "true" or "false" (400
// M_INVALID_PARAM otherwise, as Synapse answers); a room this server does
// not hold, or that the asking server may not see, is 404 M_NOT_FOUND.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1hierarchyroomid
func (s *Server) hierarchy(ctx context.Context, req *request) (any, error) {
	suggestedOnly := false
	if q := req.http.URL.Query(); q.Has("suggested_only") {
		switch q.Get("suggested_only") {
		case "true":
			suggestedOnly = true
		case "false":
		default:
			return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "suggested_only must be true or false")
		}
	}
	roomID, err := s.roomRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	if s.cfg.Hierarchy == nil {
		return nil, errorf(http.StatusNotFound, CodeNotFound, "unknown room %s", roomID)
	}
	h, err := s.cfg.Hierarchy(ctx, string(req.origin), roomID, suggestedOnly)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, rooms.ErrUnknownRoom) {
		return nil, errorf(http.StatusNotFound, CodeNotFound, "unknown room %s", roomID)
	} else if err != nil {
		return nil, err
	}
	if h.Children == nil {
		h.Children = []HierarchyRoom{}
	}
	if h.InaccessibleChildren == nil {
		h.InaccessibleChildren = []string{}
	}
	if h.Room.ChildrenState == nil {
		h.Room.ChildrenState = []SpaceChild{}
	}
	for i := range h.Children {
		if h.Children[i].ChildrenState == nil {
			h.Children[i].ChildrenState = []SpaceChild{}
		}
	}
	return h, nil
}
