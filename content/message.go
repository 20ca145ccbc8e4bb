package content

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Message types and the one format the client-server API defines for
// m.room.message (https://spec.matrix.org/latest/client-server-api/#mroommessage-msgtypes).
const (
	MsgText   = "m.text"   // a plain message
	MsgNotice = "m.notice" // an automated message (bots)
	MsgEmote  = "m.emote"  // an action, "/me waves"
	// FormatHTML is the format of a formatted_body in HTML.
	FormatHTML = "org.matrix.custom.html"
)

// Message is the content of an m.room.message event (and the m.new_content
// of an edit). Every field is optional on the wire; one of the wrong JSON
// type reads as its zero value.
type Message struct {
	// MsgType is msgtype (m.text, m.notice, m.emote, m.image, ...).
	MsgType string
	// Body is the plain-text body.
	Body string
	// Format is format; FormatHTML when FormattedBody is HTML.
	Format string
	// FormattedBody is formatted_body: untrusted HTML when Format is
	// FormatHTML (see SanitizeHTML).
	FormattedBody string
	// RelatesTo is m.relates_to, nil when absent or malformed.
	RelatesTo *RelatesTo
	// NewContent is m.new_content (the replacement content of an edit),
	// nil when absent or not a JSON object. It is parsed one level deep: an
	// m.new_content inside it stays in its Extra.
	NewContent *Message
	// Mentions is m.mentions, nil when absent or not a JSON object.
	Mentions *Mentions
	// Extra holds every other key of the content as received (url, info,
	// filename, custom keys), so nothing is lost on a round trip.
	Extra map[string]json.RawMessage
}

// knownKeys are the keys Message has fields for; they never go to Extra.
var knownKeys = map[string]bool{
	"msgtype": true, "body": true, "format": true, "formatted_body": true,
	"m.relates_to": true, "m.new_content": true, "m.mentions": true,
}

// ParseMessage reads m.room.message content. It is tolerant of hostile
// input: a known key of the wrong JSON type gives a zero field, never an
// error; the only error (matching ErrNotObject) is content that is not a
// JSON object.
func ParseMessage(raw []byte) (Message, error) {
	obj, ok := object(raw)
	if !ok {
		return Message{}, fmt.Errorf("content: parse m.room.message: %w", ErrNotObject)
	}
	m := parseMessage(obj)
	if nc, ok := object(obj["m.new_content"]); ok {
		inner := parseMessage(nc)
		if raw, ok := nc["m.new_content"]; ok {
			if inner.Extra == nil {
				inner.Extra = map[string]json.RawMessage{}
			}
			inner.Extra["m.new_content"] = raw
		}
		m.NewContent = &inner
	}
	return m, nil
}

func parseMessage(obj map[string]json.RawMessage) Message {
	m := Message{
		MsgType:       str(obj["msgtype"]),
		Body:          str(obj["body"]),
		Format:        str(obj["format"]),
		FormattedBody: str(obj["formatted_body"]),
		RelatesTo:     parseRelatesTo(obj["m.relates_to"]),
		Mentions:      parseMentions(obj["m.mentions"]),
	}
	for k, v := range obj {
		if knownKeys[k] {
			continue
		}
		if m.Extra == nil {
			m.Extra = map[string]json.RawMessage{}
		}
		m.Extra[k] = v
	}
	return m
}

// IsHTML reports whether the message carries an HTML formatted_body.
func (m Message) IsHTML() bool {
	return m.Format == FormatHTML && m.FormattedBody != ""
}

// MarshalJSON writes the content with only the keys that are set, in the
// shape a Matrix client expects: m.relates_to and m.mentions as objects,
// m.new_content as nested content, Extra keys as received. HTML is not
// escaped as \u003c.
func (m Message) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(m.Extra)+7)
	for k, v := range m.Extra {
		// Extra holds no known key, except an m.new_content nested in a
		// replacement (ParseMessage parses one level only).
		if !knownKeys[k] || (k == "m.new_content" && m.NewContent == nil) {
			out[k] = v
		}
	}
	if m.NewContent != nil {
		out["m.new_content"] = m.NewContent
	}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set("msgtype", m.MsgType)
	set("body", m.Body)
	set("format", m.Format)
	set("formatted_body", m.FormattedBody)
	if m.RelatesTo != nil {
		out["m.relates_to"] = m.RelatesTo.toJSON()
	}
	if m.Mentions != nil {
		out["m.mentions"] = m.Mentions.toJSON()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("content: marshal m.room.message: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// JSON is MarshalJSON under a name that reads better at call sites.
func (m Message) JSON() ([]byte, error) {
	return m.MarshalJSON()
}
