package content

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Relation types the client-server API defines for m.relates_to.rel_type.
const (
	// RelReplace is an edit: https://spec.matrix.org/latest/client-server-api/#event-replacements
	RelReplace = "m.replace"
	// RelAnnotation is a reaction: https://spec.matrix.org/latest/client-server-api/#event-annotations-and-reactions
	RelAnnotation = "m.annotation"
	// RelThread is a thread message: https://spec.matrix.org/latest/client-server-api/#threading
	RelThread = "m.thread"
	// RelReference is a plain reference: https://spec.matrix.org/latest/client-server-api/#reference-relations
	RelReference = "m.reference"
)

// RelatesTo is the m.relates_to object of an event's content, as far as
// it is well-formed. A zero RelType with a non-empty InReplyTo is a plain
// rich reply (rich replies do not use rel_type).
type RelatesTo struct {
	// RelType is rel_type (m.replace, m.annotation, m.thread, or any custom type).
	RelType string
	// EventID is the parent event of the rel_type relation.
	EventID string
	// Key is the annotation key (m.annotation only, by convention).
	Key string
	// InReplyTo is m.in_reply_to.event_id: the event this one replies to.
	InReplyTo string
	// IsFallingBack is the thread's is_falling_back flag: InReplyTo is only
	// the fallback for unthreaded clients, not a real reply.
	IsFallingBack bool
}

// Mentions is the m.mentions object of an event's content.
type Mentions struct {
	// UserIDs are the mentioned users (user_ids), in the sender's order.
	UserIDs []string
	// Room is true when the whole room is mentioned (@room).
	Room bool
}

// IsEventID reports whether s can name an event: a string starting with '$'
// (https://spec.matrix.org/latest/appendices/#event-ids). Anything else in
// a relation is ignored.
func IsEventID(s string) bool {
	return len(s) > 1 && s[0] == '$'
}

// ParseRelatesTo reads m.relates_to from the content of an event of any
// type (m.room.message, m.reaction, custom types). It returns nil when the
// content is not a JSON object or m.relates_to is absent or malformed.
//
// Relationships which don't match the schema are simply ignored
// (https://spec.matrix.org/latest/client-server-api/#forming-relationships-between-events):
// a rel_type without a valid event_id is dropped (with its key and
// is_falling_back) but a valid m.in_reply_to beside it is kept; fields
// of the wrong JSON type read as zero; an event ID must start with '$'.
func ParseRelatesTo(content []byte) *RelatesTo {
	obj, ok := object(content)
	if !ok {
		return nil
	}
	return parseRelatesTo(obj["m.relates_to"])
}

func parseRelatesTo(raw json.RawMessage) *RelatesTo {
	obj, ok := object(raw)
	if !ok {
		return nil
	}
	var r RelatesTo
	if relType, eventID := str(obj["rel_type"]), str(obj["event_id"]); relType != "" && IsEventID(eventID) {
		r.RelType = relType
		r.EventID = eventID
		r.Key = str(obj["key"])
		r.IsFallingBack = boolean(obj["is_falling_back"])
	}
	// https://spec.matrix.org/latest/client-server-api/#rich-replies
	if reply, ok := object(obj["m.in_reply_to"]); ok {
		if id := str(reply["event_id"]); IsEventID(id) {
			r.InReplyTo = id
		}
	}
	if r.RelType == "" && r.InReplyTo == "" {
		return nil
	}
	return &r
}

// toJSON gives the m.relates_to object as a client expects it: rel_type and
// event_id together, key when set, m.in_reply_to as an object, and
// is_falling_back whenever the relation is a thread (false included, as
// clients send it for real replies in a thread) or when true.
func (r *RelatesTo) toJSON() map[string]any {
	out := map[string]any{}
	if r.RelType != "" {
		out["rel_type"] = r.RelType
		out["event_id"] = r.EventID
	}
	if r.Key != "" {
		out["key"] = r.Key
	}
	if r.InReplyTo != "" {
		out["m.in_reply_to"] = map[string]string{"event_id": r.InReplyTo}
	}
	if r.IsFallingBack || r.RelType == RelThread {
		out["is_falling_back"] = r.IsFallingBack
	}
	return out
}

// https://spec.matrix.org/latest/client-server-api/#user-and-room-mentions
func parseMentions(raw json.RawMessage) *Mentions {
	obj, ok := object(raw)
	if !ok {
		return nil
	}
	m := Mentions{Room: boolean(obj["room"])}
	var ids []json.RawMessage
	if json.Unmarshal(obj["user_ids"], &ids) == nil {
		for _, id := range ids {
			// Tolerant: an element that is not a user ID string is skipped,
			// the rest of the list still counts.
			if s := str(id); strings.HasPrefix(s, "@") {
				m.UserIDs = append(m.UserIDs, s)
			}
		}
	}
	return &m
}

func (m *Mentions) toJSON() map[string]any {
	out := map[string]any{}
	if len(m.UserIDs) > 0 {
		out["user_ids"] = m.UserIDs
	}
	if m.Room {
		out["room"] = true
	}
	return out
}

// object decodes raw as a JSON object; ok is false for anything else
// (including null, which encoding/json would accept as an empty map).
func object(raw []byte) (map[string]json.RawMessage, bool) {
	if !bytes.HasPrefix(bytes.TrimLeft(raw, " \t\r\n"), []byte("{")) {
		return nil, false
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, false
	}
	return obj, true
}

// str is raw as a string, or "" when it is absent or not a JSON string.
func str(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// boolean is raw as a bool, or false when it is absent or not a JSON bool.
func boolean(raw json.RawMessage) bool {
	var b bool
	if len(raw) == 0 || json.Unmarshal(raw, &b) != nil {
		return false
	}
	return b
}
