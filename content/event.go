package content

import "encoding/json"

// Event is the envelope of a raw event (a PDU as stored or received, or a
// stripped state event): what a caller needs to route it before parsing
// its content with one of the Parse functions.
type Event struct {
	Type   string
	RoomID string
	Sender string
	// StateKey is nil for a message event (or a state_key that is not a
	// string).
	StateKey *string
	// Content is the raw "content" object, nil when absent.
	Content json.RawMessage
}

// ParseEvent reads the envelope of an event's JSON. It fails only when
// the input is not a JSON object.
func ParseEvent(eventJSON []byte) (Event, error) {
	m, err := objectFields(eventJSON)
	if err != nil {
		return Event{}, err
	}
	return Event{
		Type: fieldString(m, "type"), RoomID: fieldString(m, "room_id"), Sender: fieldString(m, "sender"),
		StateKey: fieldStringPtr(m, "state_key"), Content: m["content"],
	}, nil
}

// Of returns the raw content of an event's JSON, nil when there is none
// or the input is not an object.
func Of(eventJSON []byte) json.RawMessage {
	ev, _ := ParseEvent(eventJSON)
	return ev.Content
}
