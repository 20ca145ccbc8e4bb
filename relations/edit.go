package relations

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/embedmatrix/homeserver/content"
)

// ErrInvalidEdit is wrapped by every reason CheckEdit gives for an edit
// that must be ignored.
var ErrInvalidEdit = errors.New("relations: invalid edit")

// CheckEdit reports whether edit is a valid replacement of original. Each
// failure wraps ErrInvalidEdit with its reason.
//
// https://spec.matrix.org/latest/client-server-api/#validity-of-replacement-events
func CheckEdit(original, edit Event) error {
	rel := content.ParseRelatesTo(edit.Content)
	switch {
	case rel == nil || rel.RelType != content.RelReplace:
		return fmt.Errorf("%w: %s has no m.replace relation", ErrInvalidEdit, edit.EventID)
	case rel.EventID != original.EventID:
		return fmt.Errorf("%w: %s replaces %s, not %s", ErrInvalidEdit, edit.EventID, rel.EventID, original.EventID)
	case original.RoomID != edit.RoomID:
		return fmt.Errorf("%w: %s is in another room than %s", ErrInvalidEdit, edit.EventID, original.EventID)
	case original.Sender != edit.Sender:
		return fmt.Errorf("%w: %s is sent by %s, %s by %s", ErrInvalidEdit, edit.EventID, edit.Sender, original.EventID, original.Sender)
	case original.Type != edit.Type:
		return fmt.Errorf("%w: %s changes the type from %s to %s", ErrInvalidEdit, edit.EventID, original.Type, edit.Type)
	case original.IsState:
		return fmt.Errorf("%w: %s is a state event", ErrInvalidEdit, original.EventID)
	case edit.IsState:
		return fmt.Errorf("%w: %s is a state event", ErrInvalidEdit, edit.EventID)
	}
	if orel := content.ParseRelatesTo(original.Content); orel != nil && orel.RelType == content.RelReplace {
		return fmt.Errorf("%w: %s is itself an edit", ErrInvalidEdit, original.EventID)
	}
	if m, err := content.ParseMessage(edit.Content); err != nil || m.NewContent == nil {
		return fmt.Errorf("%w: %s has no m.new_content object", ErrInvalidEdit, edit.EventID)
	}
	return nil
}

// LatestEdit returns the most recent of the edits of original that are
// valid (CheckEdit), and false when none is. Invalid ones are ignored.
//
// https://spec.matrix.org/latest/client-server-api/#server-side-aggregation-of-mreplace-relationships:
// "The most recent event is determined by comparing origin_server_ts; if two
// or more replacement events have identical origin_server_ts, the event with
// the lexicographically largest event_id is treated as more recent."
func LatestEdit(original Event, edits []Event) (Event, bool) {
	var best Event
	found := false
	for _, e := range edits {
		if CheckEdit(original, e) != nil {
			continue
		}
		if !found || e.OriginServerTS > best.OriginServerTS ||
			(e.OriginServerTS == best.OriginServerTS && e.EventID > best.EventID) {
			best, found = e, true
		}
	}
	return best, found
}

// EditContent builds the content of an edit of the event originalID that
// replaces it with newContent:
//   - m.new_content is newContent without its relations (the original's
//     m.relates_to stays in force, and an edit of a reply carries no
//     m.in_reply_to) and with its mentions: all the mentions of the final
//     version;
//   - the fallback for clients without edits is "* " + body (and
//     "* " + formatted_body when formatted), with newContent's msgtype and
//     other keys;
//   - m.relates_to is {rel_type: m.replace, event_id: originalID}.
//
// The top-level m.mentions are the mentions of this revision: EditContent
// sets them to newContent's (everyone is notified again); to notify only
// the newly mentioned users, set them to MentionsAdded(previous, new).
//
// https://spec.matrix.org/latest/client-server-api/#event-replacements
func EditContent(originalID string, newContent content.Message) content.Message {
	inner := newContent
	inner.RelatesTo = nil
	inner.NewContent = nil
	inner.Mentions = cloneMentions(newContent.Mentions)
	inner.Extra = cloneExtra(newContent.Extra)

	edit := content.Message{
		MsgType:    newContent.MsgType,
		Body:       "* " + newContent.Body,
		NewContent: &inner,
		RelatesTo:  &content.RelatesTo{RelType: content.RelReplace, EventID: originalID},
		Mentions:   cloneMentions(newContent.Mentions),
		Extra:      cloneExtra(newContent.Extra),
	}
	if newContent.FormattedBody != "" {
		edit.Format = newContent.Format
		edit.FormattedBody = "* " + newContent.FormattedBody
	}
	return edit
}

// MentionsAdded returns the mentions in after that are not in before: what
// the top-level m.mentions of an edit should hold, so that users already
// mentioned are not notified again.
//
// https://spec.matrix.org/latest/client-server-api/#edits-of-events-with-mentions
func MentionsAdded(before, after *content.Mentions) *content.Mentions {
	out := &content.Mentions{}
	if after == nil {
		return out
	}
	had := map[string]bool{}
	if before != nil {
		for _, u := range before.UserIDs {
			had[u] = true
		}
	}
	for _, u := range after.UserIDs {
		if !had[u] {
			had[u] = true
			out.UserIDs = append(out.UserIDs, u)
		}
	}
	out.Room = after.Room && (before == nil || !before.Room)
	return out
}

// ApplyEdit returns the content to show for original once edit replaces it:
// the edit's m.new_content, with the original's m.relates_to kept (the one
// in m.new_content is ignored). It returns original's content unchanged
// when the edit is not valid. The stored original is never rewritten.
//
// https://spec.matrix.org/latest/client-server-api/#applying-mnew_content
func ApplyEdit(original, edit Event) (content.Message, error) {
	orig, err := content.ParseMessage(original.Content)
	if err != nil {
		return content.Message{}, fmt.Errorf("relations: apply edit: %w", err)
	}
	if err := CheckEdit(original, edit); err != nil {
		return orig, err
	}
	e, _ := content.ParseMessage(edit.Content) // CheckEdit parsed it
	shown := *e.NewContent
	shown.RelatesTo = orig.RelatesTo
	return shown, nil
}

func cloneMentions(m *content.Mentions) *content.Mentions {
	if m == nil {
		return nil
	}
	c := *m
	c.UserIDs = append([]string(nil), m.UserIDs...)
	return &c
}

func cloneExtra(e map[string]json.RawMessage) map[string]json.RawMessage {
	if e == nil {
		return nil
	}
	c := make(map[string]json.RawMessage, len(e))
	for k, v := range e {
		c[k] = v
	}
	return c
}
