package main

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
)

type messageView struct {
	EventID string       `json:"event_id"`
	Sender  string       `json:"sender"`
	Body    string       `json:"body"`
	TS      int64        `json:"ts"`
	ReadBy  []readerView `json:"read_by"`
}

type readerView struct {
	UserID string `json:"user_id"`
	TS     int64  `json:"ts"`
}

// mustBeJoined refuses users who are not joined to the room.
func (a *App) mustBeJoined(q *request) error {
	_, membership, err := a.summary(q)
	if err != nil {
		return err
	}
	if membership != "join" {
		return apiErr(http.StatusForbidden, codeForbidden, "you are not joined to this room")
	}
	return nil
}

// GET /api/rooms/{room}/messages: the newest messages of chatd's log
// (at most ?limit=, default and cap 200), oldest first, each with who has
// read it (its sender left out: sending is reading).
func (a *App) getMessages(q *request) (int, any, error) {
	if err := a.mustBeJoined(q); err != nil {
		return 0, nil, err
	}
	limit := maxMessages
	if s := q.r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, nil, apiErr(http.StatusBadRequest, codeInvalidParam, "limit must be a positive number")
		}
		limit = min(n, maxMessages)
	}
	msgs, err := a.db.messages(q.ctx, q.room, limit)
	if err != nil {
		return 0, nil, err
	}
	out := make([]messageView, 0, len(msgs))
	for _, m := range msgs {
		v := messageView{EventID: m.EventID, Sender: m.Sender, Body: m.Body, TS: m.TS, ReadBy: []readerView{}}
		rs, err := a.hs.ReadBy(q.ctx, q.room, m.EventID)
		if err != nil && !errors.Is(err, homeserver.ErrUnknownEvent) {
			return 0, nil, err
		}
		for _, r := range rs {
			if r.UserID != m.Sender {
				v.ReadBy = append(v.ReadBy, readerView{UserID: r.UserID, TS: r.Timestamp.UnixMilli()})
			}
		}
		out = append(out, v)
	}
	return http.StatusOK, out, nil
}

// POST /api/rooms/{room}/messages
func (a *App) postMessage(q *request) (int, any, error) {
	var body struct {
		Body string `json:"body"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Body == "" {
		return 0, nil, missing("body")
	}
	eventID, err := a.hs.SendMessage(q.ctx, q.room, q.name, body.Body)
	if err != nil {
		return 0, nil, err
	}
	if err := a.db.putMessage(q.ctx, message{EventID: eventID, RoomID: q.room, Sender: q.user, Body: body.Body, TS: time.Now().UnixMilli()}); err != nil {
		return 0, nil, err
	}
	// Sending ends typing, as in any chat client.
	_ = a.hs.Typing(q.ctx, q.room, q.name, false)
	return http.StatusOK, map[string]string{"event_id": eventID}, nil
}

// POST /api/rooms/{room}/read
func (a *App) postRead(q *request) (int, any, error) {
	var body struct {
		EventID string `json:"event_id"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.EventID == "" {
		return 0, nil, missing("event_id")
	}
	return http.StatusOK, emptyBody, a.hs.MarkRead(q.ctx, q.room, q.name, body.EventID)
}

// POST /api/rooms/{room}/typing
func (a *App) postTyping(q *request) (int, any, error) {
	var body struct {
		Typing *bool `json:"typing"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Typing == nil {
		return 0, nil, missing("typing")
	}
	if err := a.mustBeJoined(q); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, emptyBody, a.hs.Typing(q.ctx, q.room, q.name, *body.Typing)
}
