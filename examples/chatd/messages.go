package main

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
)

// messageView is one item of GET /api/rooms/{room}/messages. The rich
// fields come from the library's aggregated view of the message (its
// latest valid edit, whether it was deleted, its reactions), so what
// users on either server did shows on both.
type messageView struct {
	EventID string `json:"event_id"`
	Sender  string `json:"sender"`
	Body    string `json:"body"` // "" once deleted
	TS      int64  `json:"ts"`
	MsgType string `json:"msgtype"`
	// FormattedBody is HTML the library sanitised to the spec's
	// allow-list; "" when the message has none.
	FormattedBody string         `json:"formatted_body"`
	Edited        bool           `json:"edited"`
	EditedTS      int64          `json:"edited_ts"` // 0 unless edited
	Deleted       bool           `json:"deleted"`
	ReplyTo       string         `json:"reply_to"`
	ThreadRoot    string         `json:"thread_root"`
	Reactions     []reactionView `json:"reactions"`
	ReadBy        []readerView   `json:"read_by"`
	// DisplayName and AvatarURL are the sender's: their display name in
	// the room, else their profile's.
	DisplayName string `json:"displayname"`
	AvatarURL   string `json:"avatar_url"`
}

// reactionView is one reaction key on a message, in the order the keys
// were first used.
type reactionView struct {
	Key   string   `json:"key"`
	Count int      `json:"count"`
	Users []string `json:"users"`
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
// (at most ?limit=, default and cap 200), oldest first, each as the
// library aggregates it now and with who has read it (its sender left
// out: sending is reading).
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
	profiles := a.newProfiles(q.ctx)
	for _, m := range msgs {
		v, err := a.messageView(q, m, profiles)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, v)
	}
	return http.StatusOK, out, nil
}

// messageView is one logged message, enriched from the library. A
// message the library does not hold (any more) shows as logged.
func (a *App) messageView(q *request, m message, profiles *profiles) (messageView, error) {
	v := messageView{EventID: m.EventID, Sender: m.Sender, Body: m.Body, TS: m.TS, MsgType: "m.text",
		Reactions: []reactionView{}, ReadBy: []readerView{}}
	full, err := a.hs.Message(q.ctx, q.room, m.EventID)
	switch {
	case errors.Is(err, homeserver.ErrUnknownEvent):
	case err != nil:
		return v, err
	default:
		v.Body, v.MsgType, v.FormattedBody = full.Body, full.MsgType, full.FormattedBody
		v.ReplyTo, v.ThreadRoot = full.ReplyTo, full.ThreadRoot
		v.Edited, v.Deleted = full.Edited, full.Deleted
		v.DisplayName = full.SenderName
		if full.Edited && !full.EditedAt.IsZero() {
			v.EditedTS = full.EditedAt.UnixMilli()
		}
		if v.MsgType == "" {
			v.MsgType = "m.text"
		}
		for _, r := range full.Reactions {
			v.Reactions = append(v.Reactions, reactionView{Key: r.Key, Count: r.Count, Users: append([]string{}, r.Users...)})
		}
	}
	if v.Deleted {
		v.Body, v.FormattedBody = "", ""
	}
	p := profiles.of(m.Sender)
	if v.DisplayName == "" {
		v.DisplayName = p.DisplayName
	}
	v.AvatarURL = p.AvatarURL
	rs, err := a.hs.ReadBy(q.ctx, q.room, m.EventID)
	if err != nil && !errors.Is(err, homeserver.ErrUnknownEvent) {
		return v, err
	}
	for _, r := range rs {
		if r.UserID != m.Sender {
			v.ReadBy = append(v.ReadBy, readerView{UserID: r.UserID, TS: r.Timestamp.UnixMilli()})
		}
	}
	return v, nil
}

// msgTypes are the msgtypes chatd's users may send.
var msgTypes = map[string]bool{"m.text": true, "m.notice": true, "m.emote": true}

// POST /api/rooms/{room}/messages
func (a *App) postMessage(q *request) (int, any, error) {
	var body struct {
		Body          string   `json:"body"`
		MsgType       string   `json:"msgtype"`
		FormattedBody string   `json:"formatted_body"`
		ReplyTo       string   `json:"reply_to"`
		ThreadRoot    string   `json:"thread_root"`
		Mentions      []string `json:"mentions"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Body == "" {
		return 0, nil, missing("body")
	}
	if body.MsgType != "" && !msgTypes[body.MsgType] {
		return 0, nil, apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("msgtype %q: chatd sends m.text, m.notice or m.emote", body.MsgType))
	}
	for field, id := range map[string]string{"reply_to": body.ReplyTo, "thread_root": body.ThreadRoot} {
		if id != "" && !validEventID(id) {
			return 0, nil, apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("%s %q is not an event ID", field, id))
		}
	}
	for _, u := range body.Mentions {
		if _, err := homeserver.ParseUserID(u); err != nil {
			return 0, nil, apiErr(http.StatusBadRequest, codeInvalidParam, fmt.Sprintf("mention %q is not a Matrix user ID (@user:server)", u))
		}
	}
	eventID, err := a.hs.Send(q.ctx, q.room, q.name, homeserver.MessageContent{
		MsgType:       body.MsgType,
		Body:          body.Body,
		FormattedBody: body.FormattedBody,
		ReplyTo:       body.ReplyTo,
		ThreadRoot:    body.ThreadRoot,
		Mentions:      body.Mentions,
	})
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
