package main

import "net/http"

// knockView is one item of the "knocks" of GET /api/rooms/{room}: a
// pending request to be invited.
type knockView struct {
	UserID string `json:"user_id"`
	Reason string `json:"reason"`
	TS     int64  `json:"ts"`
}

// https://spec.matrix.org/v1.16/client-server-api/#knocking-on-rooms
//
// POST /api/rooms/{target}/knock: X-User asks to be invited into a room
// whose join rule is "knock", named by ID or alias, through the via
// servers (a room ID's own server when none is given).
func (a *App) postKnock(q *request) (int, any, error) {
	var body struct {
		Reason string   `json:"reason"`
		Via    []string `json:"via"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if err := checkVia(body.Via); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, emptyBody, a.hs.Knock(q.ctx, q.target, q.name, body.Reason, body.Via)
}

// POST /api/rooms/{room}/knocks/{user}/accept: invite the knocking user
// (X-User needs the invite power).
func (a *App) postAcceptKnock(q *request) (int, any, error) {
	uid, err := a.pathUser(q)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, emptyBody, a.hs.AcceptKnock(q.ctx, q.room, q.name, uid)
}

// POST /api/rooms/{room}/knocks/{user}/refuse: refuse the knock, with an
// optional {"reason"} (X-User needs the kick power).
func (a *App) postRefuseKnock(q *request) (int, any, error) {
	uid, err := a.pathUser(q)
	if err != nil {
		return 0, nil, err
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, emptyBody, a.hs.RefuseKnock(q.ctx, q.room, q.name, uid, body.Reason)
}

// GET /api/knocks: X-User's own knocks, newest first, pending, accepted
// or refused (not in the table; the page shows it).
func (a *App) getMyKnocks(q *request) (int, any, error) {
	ks, err := a.hs.MyKnocks(q.ctx, q.name)
	if err != nil {
		return 0, nil, err
	}
	type myKnock struct {
		RoomID  string `json:"room_id"`
		Reason  string `json:"reason"`
		State   string `json:"state"`
		By      string `json:"by"`
		Outcome string `json:"outcome"`
		TS      int64  `json:"ts"`
	}
	out := make([]myKnock, 0, len(ks))
	for _, k := range ks {
		out = append(out, myKnock{RoomID: k.RoomID, Reason: k.Reason, State: k.State, By: k.By, Outcome: k.Outcome, TS: k.TS.UnixMilli()})
	}
	return http.StatusOK, out, nil
}

// roomKnocks lists the pending knocks on a room this server is in; none
// for a room it is not in.
func (a *App) roomKnocks(q *request) ([]knockView, error) {
	out := []knockView{}
	ks, err := a.hs.Knocks(q.ctx, q.room)
	if err != nil {
		if errorOf(err).Status == http.StatusNotFound {
			return out, nil
		}
		return nil, err
	}
	for _, k := range ks {
		out = append(out, knockView{UserID: k.UserID, Reason: k.Reason, TS: k.TS.UnixMilli()})
	}
	return out, nil
}
