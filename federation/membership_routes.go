package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/embedmatrix/homeserver/ids"
	"github.com/embedmatrix/homeserver/rooms"
	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// invite serves PUT /_matrix/federation/v2/invite/{roomID}/{eventID}: a
// remote user invites one of ours. We check the event, co-sign it, store
// the invite as pending and tell the host.
// https://spec.matrix.org/v1.16/server-server-api/#put_matrixfederationv2inviteroomideventid
func (s *Server) invite(ctx context.Context, req *request) (any, error) {
	var body struct {
		RoomVersion     string          `json:"room_version"`
		Event           json.RawMessage `json:"event"`
		InviteRoomState json.RawMessage `json:"invite_room_state"`
	}
	if err := decode(req.content, &body); err != nil {
		return nil, err
	}
	if _, err := rooms.Version(body.RoomVersion); err != nil {
		return nil, &Error{Status: http.StatusBadRequest, ErrCode: CodeIncompatibleVer,
			Message: "room version not supported", Extra: map[string]any{"room_version": body.RoomVersion}}
	}
	ev, err := rooms.Parse(body.RoomVersion, body.Event)
	if err != nil {
		return nil, roomError(err)
	}
	if ev.EventID() != req.vars["eventID"] || ev.RoomID().String() != req.vars["roomID"] {
		return nil, errorf(http.StatusBadRequest, CodeBadJSON, "event does not match the path")
	}
	if ev.Type() != spec.MRoomMember || ev.StateKey() == nil {
		return nil, errorf(http.StatusBadRequest, CodeBadJSON, "not a membership event")
	}
	if m, err := ev.Membership(); err != nil || m != spec.Invite {
		return nil, errorf(http.StatusBadRequest, CodeBadJSON, "membership is not invite")
	}
	invitee, err := ids.ServerOf(*ev.StateKey())
	if err != nil || invitee != s.cfg.Identity.ServerName {
		return nil, errorf(http.StatusBadRequest, CodeBadJSON, "invitee is not a user of this server")
	}
	sender, err := ids.ServerOf(string(ev.SenderID()))
	if err != nil || sender != req.origin {
		return nil, errorf(http.StatusForbidden, CodeForbidden, "the inviter is not on the requesting server")
	}
	if err := s.cfg.Rooms.VerifySenderSignature(ctx, ev); err != nil {
		return nil, errorf(http.StatusForbidden, CodeForbidden, "%v", err)
	}
	// When we hold the room, an invite the auth rules refuse (e.g. of a
	// banned user) is refused here rather than shown to the host as an
	// invite that can never be accepted.
	if err := s.cfg.Rooms.CheckAgainstKnownState(ctx, ev); err != nil {
		return nil, roomError(err)
	}
	if len(body.InviteRoomState) == 0 || !json.Valid(body.InviteRoomState) {
		body.InviteRoomState = json.RawMessage("[]")
	}
	if gjson.GetBytes(body.InviteRoomState, `#(type=="m.room.encryption")`).Exists() {
		// Encrypted rooms cannot be bridged to a host that reads messages.
		return nil, errorf(http.StatusForbidden, CodeForbidden, "this server does not join encrypted rooms")
	}
	id := s.cfg.Identity
	signed := ev.Sign(string(id.ServerName), id.KeyID, id.PrivateKey)
	now := time.Now().UnixMilli()
	inv := storage.Invite{
		RoomID: ev.RoomID().String(), UserID: *ev.StateKey(), Inviter: string(ev.SenderID()),
		Direction: storage.InviteInbound, EventID: ev.EventID(), RoomVersion: body.RoomVersion,
		EventJSON: signed.JSON(), RoomState: body.InviteRoomState, State: storage.InvitePending,
		CreatedTS: now, UpdatedTS: now,
	}
	if err := s.cfg.Store.PutInvite(ctx, inv); err != nil {
		return nil, err
	}
	s.cfg.OnInvite(inv)
	return map[string]json.RawMessage{"event": signed.JSON()}, nil
}

// userOfOrigin returns the path's user ID after checking it belongs to
// the requesting server.
func userOfOrigin(req *request) (string, error) {
	userID := req.vars["userID"]
	server, err := ids.ServerOf(userID)
	if err != nil {
		return "", errorf(http.StatusBadRequest, CodeInvalidParam, "bad user ID")
	}
	if server != req.origin {
		return "", errorf(http.StatusForbidden, CodeForbidden, "the user is not on the requesting server")
	}
	return userID, nil
}

// makeJoin serves GET /_matrix/federation/v1/make_join/{roomID}/{userID}.
func (s *Server) makeJoin(ctx context.Context, req *request) (any, error) {
	userID, err := userOfOrigin(req)
	if err != nil {
		return nil, err
	}
	vers := req.http.URL.Query()["ver"]
	if len(vers) == 0 {
		vers = []string{"1"} // spec: no ver means version 1 only
	}
	if err := s.cfg.Rooms.CheckServerACL(ctx, req.vars["roomID"], req.origin); err != nil {
		return nil, roomError(err)
	}
	proto, version, err := s.cfg.Rooms.MakeJoin(ctx, req.vars["roomID"], userID, vers)
	return s.templateAnswer(proto, version, err)
}

// templateAnswer is the answer of make_join, make_leave and make_knock:
// the template and the room version, or the error (a version the asking
// server does not support names the room's version, as the spec says).
func (s *Server) templateAnswer(proto gomatrixserverlib.ProtoEvent, version string, err error) (any, error) {
	if errors.Is(err, rooms.ErrIncompatibleVersion) {
		return nil, &Error{Status: http.StatusBadRequest, ErrCode: CodeIncompatibleVer,
			Message: "your server does not support this room's version", Extra: map[string]any{"room_version": version}}
	}
	if err != nil {
		return nil, roomError(err)
	}
	return map[string]any{"event": s.template(proto), "room_version": version}, nil
}

// template is a make_join / make_leave answer's event: the proto event
// with origin (this server) and origin_server_ts (now, in ms), as Synapse
// sends them. A server that copies the template as it is, then hashes and
// signs it, gets a well-formed event; the spec's PDU format requires
// origin_server_ts.
// https://spec.matrix.org/v1.16/rooms/v10/#event-format
func (s *Server) template(proto gomatrixserverlib.ProtoEvent) any {
	return struct {
		gomatrixserverlib.ProtoEvent
		Origin         spec.ServerName `json:"origin"`
		OriginServerTS int64           `json:"origin_server_ts"`
	}{proto, s.cfg.Identity.ServerName, time.Now().UnixMilli()}
}

// sendJoin serves PUT /_matrix/federation/v2/send_join/{roomID}/{eventID}.
func (s *Server) sendJoin(ctx context.Context, req *request) (any, error) {
	if len(req.content) == 0 {
		return nil, errorf(http.StatusBadRequest, CodeNotJSON, "missing event")
	}
	res, err := s.cfg.Rooms.SendJoin(ctx, req.origin, req.vars["roomID"], req.vars["eventID"], req.content)
	if err != nil {
		return nil, roomError(err)
	}
	return map[string]any{
		"origin":          s.cfg.Identity.ServerName,
		"state":           gomatrixserverlib.NewEventJSONsFromEvents(res.State),
		"auth_chain":      gomatrixserverlib.NewEventJSONsFromEvents(res.AuthChain),
		"event":           json.RawMessage(res.Event.JSON()),
		"members_omitted": false,
	}, nil
}

// v1Answer wraps a v2 answer in the v1 shape, [200, {...}]: the v1
// send_join and send_leave endpoints are deprecated but still used by
// older servers and the compliance suite. Errors keep the usual shape.
// https://spec.matrix.org/v1.16/server-server-api/#put_matrixfederationv1send_joinroomideventid
func v1Answer(h handler) handler {
	return func(ctx context.Context, req *request) (any, error) {
		res, err := h(ctx, req)
		if err != nil {
			return nil, err
		}
		return []any{http.StatusOK, res}, nil
	}
}

// makeLeave serves GET /_matrix/federation/v1/make_leave/{roomID}/{userID}.
func (s *Server) makeLeave(ctx context.Context, req *request) (any, error) {
	userID, err := userOfOrigin(req)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Rooms.CheckServerACL(ctx, req.vars["roomID"], req.origin); err != nil {
		return nil, roomError(err)
	}
	proto, version, err := s.cfg.Rooms.MakeLeave(ctx, req.vars["roomID"], userID)
	return s.templateAnswer(proto, version, err)
}

// sendLeave serves PUT /_matrix/federation/v2/send_leave/{roomID}/{eventID}.
func (s *Server) sendLeave(ctx context.Context, req *request) (any, error) {
	if len(req.content) == 0 {
		return nil, errorf(http.StatusBadRequest, CodeNotJSON, "missing event")
	}
	if err := s.cfg.Rooms.SendLeave(ctx, req.origin, req.vars["roomID"], req.vars["eventID"], req.content); err != nil {
		return nil, roomError(err)
	}
	return struct{}{}, nil
}
