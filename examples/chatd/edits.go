package main

import (
	"bytes"
	"encoding/json"
	"net/http"

	homeserver "github.com/embedmatrix/homeserver"
)

// https://spec.matrix.org/v1.16/client-server-api/#event-replacements
//
// PUT /api/rooms/{room}/messages/{event}: edit one of X-User's messages.
// The answer is the edit's event ID; the message keeps its own, and GET
// .../messages shows the new text on it (edits are never items).
func (a *App) putMessage(q *request) (int, any, error) {
	var body struct {
		Body          string `json:"body"`
		FormattedBody string `json:"formatted_body"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Body == "" {
		return 0, nil, missing("body")
	}
	editID, err := a.hs.Edit(q.ctx, q.room, q.name, q.event, homeserver.MessageContent{Body: body.Body, FormattedBody: body.FormattedBody})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"event_id": editID}, nil
}

// https://spec.matrix.org/v1.16/client-server-api/#redactions
//
// DELETE /api/rooms/{room}/messages/{event}: delete (redact) a message,
// X-User's own or, with the room's redact power, anyone's. The answer is
// the redaction's event ID.
func (a *App) deleteMessage(q *request) (int, any, error) {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	redactionID, err := a.hs.Redact(q.ctx, q.room, q.name, q.event, body.Reason)
	if err != nil {
		return 0, nil, err
	}
	// chatd's log keeps no text of a deleted message either.
	if err := a.db.scrubMessage(q.ctx, q.room, q.event); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"event_id": redactionID}, nil
}

// https://spec.matrix.org/v1.16/client-server-api/#event-annotations-and-reactions
//
// POST /api/rooms/{room}/messages/{event}/reactions: react with a key
// (usually an emoji). The same reaction twice is 400
// M_DUPLICATE_ANNOTATION.
func (a *App) postReaction(q *request) (int, any, error) {
	var body struct {
		Key string `json:"key"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Key == "" {
		return 0, nil, missing("key")
	}
	reactionID, err := a.hs.React(q.ctx, q.room, q.name, q.event, body.Key)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"event_id": reactionID}, nil
}

// DELETE /api/rooms/{room}/messages/{event}/reactions/{key}: take
// X-User's reaction back.
func (a *App) deleteReaction(q *request) (int, any, error) {
	if err := a.hs.Unreact(q.ctx, q.room, q.name, q.event, q.key); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, emptyBody, nil
}

// POST /api/rooms/{room}/events: send any other event, message-like or
// (with state_key) state, by type and content.
func (a *App) postEvent(q *request) (int, any, error) {
	var body struct {
		Type     string          `json:"type"`
		Content  json.RawMessage `json:"content"`
		StateKey *string         `json:"state_key"`
	}
	if err := decode(q, &body); err != nil {
		return 0, nil, err
	}
	if body.Type == "" {
		return 0, nil, missing("type")
	}
	if len(body.Content) == 0 || bytes.Equal(body.Content, []byte("null")) {
		return 0, nil, missing("content")
	}
	if body.Content[0] != '{' {
		return 0, nil, apiErr(http.StatusBadRequest, codeBadJSON, "content must be a JSON object")
	}
	eventID, err := a.hs.SendEvent(q.ctx, q.room, q.name, body.Type, body.StateKey, body.Content)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"event_id": eventID}, nil
}
