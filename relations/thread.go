package relations

import (
	"errors"
	"fmt"

	"github.com/embedmatrix/homeserver/content"
)

// ErrInvalidThreadRoot is returned by CheckThreadRoot for an event a thread
// may not start from.
var ErrInvalidThreadRoot = errors.New("relations: invalid thread root")

// ReplyContent returns msg as a rich reply to inReplyTo: its m.relates_to
// gains m.in_reply_to (any rel_type it had is kept). The body gets no
// fallback quote: the spec dropped reply fallbacks in v1.13.
//
// https://spec.matrix.org/latest/client-server-api/#rich-replies
func ReplyContent(msg content.Message, inReplyTo string) content.Message {
	rel := content.RelatesTo{}
	if msg.RelatesTo != nil {
		rel = *msg.RelatesTo
	}
	rel.InReplyTo = inReplyTo
	rel.IsFallingBack = false
	msg.RelatesTo = &rel
	return msg
}

// ThreadContent returns msg as a message in the thread of root.
//
// With replyTo == "" it is a plain thread message and carries the fallback
// for unthreaded clients: is_falling_back true and m.in_reply_to the latest
// event in the thread, latestInThread (root when the thread is empty and
// latestInThread is ""). With replyTo set it is a real reply within the
// thread: is_falling_back false and m.in_reply_to replyTo.
//
// https://spec.matrix.org/latest/client-server-api/#fallback-for-unthreaded-clients
// https://spec.matrix.org/latest/client-server-api/#replies-within-threads
func ThreadContent(msg content.Message, root, latestInThread, replyTo string) content.Message {
	rel := &content.RelatesTo{RelType: content.RelThread, EventID: root}
	switch {
	case replyTo != "":
		rel.InReplyTo = replyTo
	case latestInThread != "":
		rel.InReplyTo, rel.IsFallingBack = latestInThread, true
	default:
		rel.InReplyTo, rel.IsFallingBack = root, true
	}
	msg.RelatesTo = rel
	return msg
}

// ThreadRoot returns the thread root an event belongs to (the event_id of
// an m.thread relation), or "" when it is not in a thread.
func ThreadRoot(rel *content.RelatesTo) string {
	if rel == nil || rel.RelType != content.RelThread {
		return ""
	}
	return rel.EventID
}

// ReplyTarget returns the event a message really replies to: its
// m.in_reply_to, except when that is only a thread's fallback
// (is_falling_back) and for an edit (an edit's reply is the original's).
// It returns "" when the message is not a reply.
//
// https://spec.matrix.org/latest/client-server-api/#replies-within-threads
func ReplyTarget(rel *content.RelatesTo) string {
	if rel == nil || rel.RelType == content.RelReplace ||
		(rel.RelType == content.RelThread && rel.IsFallingBack) {
		return ""
	}
	return rel.InReplyTo
}

// CheckThreadRoot reports whether a thread may start from root in roomID:
// it must be in that room and not itself have a relation with a rel_type
// (so threads never nest and a root never points back into a thread).
//
// https://spec.matrix.org/latest/client-server-api/#validation-of-mthread-relationships
func CheckThreadRoot(roomID string, root Event) error {
	if root.RoomID != roomID {
		return fmt.Errorf("%w: %s is in another room", ErrInvalidThreadRoot, root.EventID)
	}
	if rel := content.ParseRelatesTo(root.Content); rel != nil && rel.RelType != "" {
		return fmt.Errorf("%w: %s has an %s relation", ErrInvalidThreadRoot, root.EventID, rel.RelType)
	}
	return nil
}

// ThreadFor returns the thread a reply to target belongs in: target's own
// thread root when target is a thread message ("clients ... can treat rich
// replies to an event with a rel_type of m.thread as a threaded reply"),
// else "". It looks one hop only: threads do not nest.
//
// https://spec.matrix.org/latest/client-server-api/#fallback-for-unthreaded-clients
func ThreadFor(target Event) string {
	return ThreadRoot(content.ParseRelatesTo(target.Content))
}

// MaxReplyChain bounds ReplyChain when the caller passes no positive limit.
const MaxReplyChain = 10

// ReplyChain follows replies from the event start: start, what it replies
// to (ReplyTarget), what that replies to, and so on. lookup returns an
// event's relation and whether the event is known; the walk stops before
// an unknown event (it is not in the chain), after an event that replies
// to nothing, before an event already
// in the chain (a cycle: A -> B -> A) or after max events (MaxReplyChain
// when max <= 0). It never recurses.
func ReplyChain(start string, max int, lookup func(eventID string) (*content.RelatesTo, bool)) []string {
	if max <= 0 {
		max = MaxReplyChain
	}
	var chain []string
	seen := map[string]bool{}
	for id := start; id != "" && !seen[id] && len(chain) < max; {
		rel, ok := lookup(id)
		if !ok {
			break
		}
		seen[id] = true
		chain = append(chain, id)
		id = ReplyTarget(rel)
	}
	return chain
}
