package federation

import (
	"context"
	"net/http"
)

// makeKnock serves GET /_matrix/federation/v1/make_knock/{roomID}/{userID}:
// a knock template for a user of the requesting server, with the same
// checks as make_join (the user is the origin's, the ACL allows the
// origin). ver is required (knocking came with room version 7); a room
// whose version is not offered answers 400 M_INCOMPATIBLE_ROOM_VERSION, a
// room that is not knockable or a banned user 403 M_FORBIDDEN.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1make_knockroomiduserid
func (s *Server) makeKnock(ctx context.Context, req *request) (any, error) {
	userID, err := userOfOrigin(req)
	if err != nil {
		return nil, err
	}
	vers := req.http.URL.Query()["ver"]
	if len(vers) == 0 {
		return nil, errorf(http.StatusBadRequest, CodeMissingParam, "ver is required")
	}
	if err := s.cfg.Rooms.CheckServerACL(ctx, req.vars["roomID"], req.origin); err != nil {
		return nil, roomError(err)
	}
	proto, version, err := s.cfg.Rooms.MakeKnock(ctx, req.vars["roomID"], userID, vers)
	return s.templateAnswer(proto, version, err)
}

// sendKnock serves PUT /_matrix/federation/v1/send_knock/{roomID}/{eventID}:
// the knocking server's signed knock. An event that is not a knock of its
// sender, for this room, answers 400 M_BAD_JSON (as Synapse does); one the
// auth rules refuse 403 M_FORBIDDEN. The answer is the knock_room_state.
// https://spec.matrix.org/v1.16/server-server-api/#put_matrixfederationv1send_knockroomideventid
func (s *Server) sendKnock(ctx context.Context, req *request) (any, error) {
	if len(req.content) == 0 {
		return nil, errorf(http.StatusBadRequest, CodeNotJSON, "missing event")
	}
	state, err := s.cfg.Rooms.SendKnock(ctx, req.origin, req.vars["roomID"], req.vars["eventID"], req.content)
	if err != nil {
		return nil, roomError(err)
	}
	return map[string]any{"knock_room_state": state}, nil
}
