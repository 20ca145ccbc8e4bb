package federation

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/embedmatrix/homeserver/rooms"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// pduTxn is the transaction-shaped answer of /event and /backfill.
func (s *Server) pduTxn(pdus []gomatrixserverlib.PDU) map[string]any {
	return map[string]any{
		"origin":           s.cfg.Identity.ServerName,
		"origin_server_ts": spec.AsTimestamp(time.Now()),
		"pdus":             gomatrixserverlib.NewEventJSONsFromEvents(pdus),
	}
}

// event serves GET /_matrix/federation/v1/event/{eventID}.
func (s *Server) event(ctx context.Context, req *request) (any, error) {
	ev, err := s.cfg.Rooms.EventFor(ctx, req.origin, req.vars["eventID"])
	if err != nil {
		return nil, roomError(err)
	}
	if err := s.cfg.Rooms.CheckServerACL(ctx, ev.RoomID().String(), req.origin); err != nil {
		return nil, roomError(err)
	}
	return s.pduTxn([]gomatrixserverlib.PDU{ev}), nil
}

// roomRequest runs the checks every room-scoped read shares: the room
// exists and its server ACL lets the origin in.
func (s *Server) roomRequest(ctx context.Context, req *request) (string, error) {
	roomID := req.vars["roomID"]
	if _, err := s.cfg.Rooms.RoomVersion(ctx, roomID); err != nil {
		return "", roomError(err)
	}
	if err := s.cfg.Rooms.CheckServerACL(ctx, roomID, req.origin); err != nil {
		return "", roomError(err)
	}
	return roomID, nil
}

func eventIDParam(req *request) (string, error) {
	id := req.http.URL.Query().Get("event_id")
	if id == "" {
		return "", errorf(http.StatusBadRequest, CodeMissingParam, "event_id is required")
	}
	return id, nil
}

// stateAt answers what /state and /state_ids share: the state before the
// event_id query parameter's event, and its auth chain.
func (s *Server) stateAt(ctx context.Context, req *request) (state, chain []gomatrixserverlib.PDU, err error) {
	roomID, err := s.roomRequest(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	eventID, err := eventIDParam(req)
	if err != nil {
		return nil, nil, err
	}
	state, chain, err = s.cfg.Rooms.StateAt(ctx, req.origin, roomID, eventID)
	if err != nil {
		return nil, nil, roomError(err)
	}
	return state, chain, nil
}

// state serves GET /_matrix/federation/v1/state/{roomID}?event_id=.
func (s *Server) state(ctx context.Context, req *request) (any, error) {
	state, chain, err := s.stateAt(ctx, req)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"pdus":       gomatrixserverlib.NewEventJSONsFromEvents(state),
		"auth_chain": gomatrixserverlib.NewEventJSONsFromEvents(chain),
	}, nil
}

// stateIDs serves GET /_matrix/federation/v1/state_ids/{roomID}?event_id=.
func (s *Server) stateIDs(ctx context.Context, req *request) (any, error) {
	state, chain, err := s.stateAt(ctx, req)
	if err != nil {
		return nil, err
	}
	return map[string]any{"pdu_ids": eventIDs(state), "auth_chain_ids": eventIDs(chain)}, nil
}

func eventIDs(evs []gomatrixserverlib.PDU) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.EventID()
	}
	return out
}

// eventAuth serves GET /_matrix/federation/v1/event_auth/{roomID}/{eventID}.
func (s *Server) eventAuth(ctx context.Context, req *request) (any, error) {
	roomID, err := s.roomRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	chain, err := s.cfg.Rooms.AuthChainOf(ctx, req.origin, roomID, req.vars["eventID"])
	if err != nil {
		return nil, roomError(err)
	}
	return map[string]any{"auth_chain": gomatrixserverlib.NewEventJSONsFromEvents(chain)}, nil
}

// backfill serves GET /_matrix/federation/v1/backfill/{roomID}?v=&limit=.
func (s *Server) backfill(ctx context.Context, req *request) (any, error) {
	roomID, err := s.roomRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	q := req.http.URL.Query()
	from := q["v"]
	if len(from) == 0 {
		return nil, errorf(http.StatusBadRequest, CodeMissingParam, "v is required")
	}
	if len(from) > rooms.MaxPrevEvents {
		return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "too many v")
	}
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 {
		return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "limit must be a positive integer")
	}
	evs, err := s.cfg.Rooms.Backfill(ctx, req.origin, roomID, from, limit)
	if err != nil {
		return nil, roomError(err)
	}
	return s.pduTxn(evs), nil
}

// missingEvents serves POST /_matrix/federation/v1/get_missing_events/{roomID}.
func (s *Server) missingEvents(ctx context.Context, req *request) (any, error) {
	roomID, err := s.roomRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	var body struct {
		Earliest []string `json:"earliest_events"`
		Latest   []string `json:"latest_events"`
		Limit    *int     `json:"limit"`
		MinDepth int64    `json:"min_depth"`
	}
	if err := decode(req.content, &body); err != nil {
		return nil, err
	}
	if len(body.Latest) == 0 || len(body.Latest) > rooms.MaxPrevEvents || len(body.Earliest) > 1000 {
		return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "latest_events must hold 1 to %d events", rooms.MaxPrevEvents)
	}
	limit := 10 // spec default
	if body.Limit != nil {
		limit = *body.Limit
	}
	evs, err := s.cfg.Rooms.MissingEvents(ctx, req.origin, roomID, body.Earliest, body.Latest, limit, body.MinDepth)
	if err != nil {
		return nil, roomError(err)
	}
	return map[string]any{"events": gomatrixserverlib.NewEventJSONsFromEvents(evs)}, nil
}

// remoteTxn is the answer of /event and /backfill as a client reads it.
type remoteTxn struct {
	PDUs []json.RawMessage `json:"pdus"`
}

// timestampToEvent serves GET
// /_matrix/federation/v1/timestamp_to_event/{roomID}?ts=&dir=f|b: the
// closest event the origin may see at or after (f) or before (b) ts.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1timestamp_to_eventroomid
func (s *Server) timestampToEvent(ctx context.Context, req *request) (any, error) {
	roomID, err := s.roomRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	q := req.http.URL.Query()
	ts, err := strconv.ParseInt(q.Get("ts"), 10, 64)
	if err != nil || ts < 0 {
		return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "ts must be a timestamp in milliseconds")
	}
	dir := q.Get("dir")
	if dir != "f" && dir != "b" {
		return nil, errorf(http.StatusBadRequest, CodeInvalidParam, "dir must be f or b")
	}
	eventID, originTS, err := s.cfg.Rooms.ClosestEvent(ctx, req.origin, roomID, ts, dir == "f")
	if err != nil {
		return nil, roomError(err)
	}
	return map[string]any{"event_id": eventID, "origin_server_ts": originTS}, nil
}
