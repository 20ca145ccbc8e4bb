package interop

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// The client-server API calls the rich-message scenarios drive Dendrite
// with: any event type, redactions, one event, and relations.

// fullEvent is a client-format event with its unsigned section (where
// Dendrite puts redacted_because).
type fullEvent struct {
	event
	Unsigned json.RawMessage `json:"unsigned,omitempty"`
}

// redactedBecause is the event ID in unsigned.redacted_because ("" if the
// event is not redacted).
func (e fullEvent) redactedBecause() string {
	var u struct {
		RedactedBecause *struct {
			EventID string `json:"event_id"`
		} `json:"redacted_because"`
	}
	if len(e.Unsigned) == 0 || json.Unmarshal(e.Unsigned, &u) != nil || u.RedactedBecause == nil {
		return ""
	}
	return u.RedactedBecause.EventID
}

// contentMap decodes an event content (nil if it is not an object).
func contentMap(raw json.RawMessage) map[string]any {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// path walks nested objects of a decoded content: path(c, "m.relates_to",
// "event_id"). It returns nil when a step is missing.
func path(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[k]
	}
	return cur
}

// pathStr is path for a string leaf ("" when missing or not a string).
func pathStr(m map[string]any, keys ...string) string {
	s, _ := path(m, keys...).(string)
	return s
}

// txnID is a fresh transaction ID for PUT /send and /redact.
func (u *csUser) txnID() string {
	return fmt.Sprintf("r%d-%d", time.Now().UnixNano(), u.txn.Add(1))
}

// sendEvent is PUT /rooms/{roomId}/send/{eventType}/{txnId}.
func (u *csUser) sendEvent(roomID, typ string, content any) (string, error) {
	var res struct {
		EventID string `json:"event_id"`
	}
	err := u.do("PUT", roomPath(roomID, "send", typ, u.txnID()), content, &res)
	return res.EventID, err
}

// redact is PUT /rooms/{roomId}/redact/{eventId}/{txnId}.
func (u *csUser) redact(roomID, eventID, reason string) (string, error) {
	body := map[string]any{}
	if reason != "" {
		body["reason"] = reason
	}
	var res struct {
		EventID string `json:"event_id"`
	}
	err := u.do("PUT", roomPath(roomID, "redact", eventID, u.txnID()), body, &res)
	return res.EventID, err
}

// getEvent is GET /rooms/{roomId}/event/{eventId}.
func (u *csUser) getEvent(roomID, eventID string) (fullEvent, error) {
	var e fullEvent
	err := u.do("GET", roomPath(roomID, "event", eventID), nil, &e)
	return e, err
}

// relations is GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}
// (one page of up to 50, which is all the scenarios make).
func (u *csUser) relations(roomID, eventID, relType string) ([]fullEvent, error) {
	var res struct {
		Chunk []fullEvent `json:"chunk"`
	}
	p := "/_matrix/client/v1/rooms/" + url.PathEscape(roomID) + "/relations/" + url.PathEscape(eventID) + "/" + url.PathEscape(relType) + "?limit=50"
	err := u.do("GET", p, nil, &res)
	return res.Chunk, err
}

// messagesFull is /messages (backwards from the end) with unsigned.
func (u *csUser) messagesFull(roomID string, limit int) ([]fullEvent, error) {
	var res struct {
		Chunk []fullEvent `json:"chunk"`
	}
	err := u.do("GET", fmt.Sprintf("/_matrix/client/v3/rooms/%s/messages?dir=b&limit=%d", url.PathEscape(roomID), limit), nil, &res)
	return res.Chunk, err
}

// waitEventID waits until the user's /sync shows the event in the room's
// timeline.
func (u *csUser) waitEventID(roomID, eventID string) (stamped[syncItem], bool) {
	return u.waitTimeline(roomID, func(e event) bool { return e.EventID == eventID })
}

// eventuallyDendrite polls Dendrite until cond holds for what get returns
// (or waitTimeout passes); it returns the last value and error seen.
func eventuallyDendrite[T any](get func() (T, error), cond func(T) bool) (T, error, bool) {
	var last T
	var lastErr error
	ok := eventually(func() bool {
		last, lastErr = get()
		return lastErr == nil && cond(last)
	})
	return last, lastErr, ok
}
