package relations

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/embedmatrix/homeserver/content"
)

// MaxReactionKey is the longest annotation key, in bytes, this package
// accepts. The spec sets no bound (the key "can be any string"; the whole
// event is at most 64 KiB); 256 bytes holds any emoji sequence and a short
// text reaction, and keeps one hostile key from filling the host's UI.
const MaxReactionKey = 256

// ErrDuplicateAnnotation is returned by CheckNewReaction when the user has
// already reacted to the event with that key. A client-server API answers
// it with 400 M_DUPLICATE_ANNOTATION.
var ErrDuplicateAnnotation = errors.New("relations: M_DUPLICATE_ANNOTATION: the same reaction was already sent")

// ErrInvalidReaction is wrapped by every reason a reaction is refused or
// ignored other than a duplicate: a bad key or a bad target.
var ErrInvalidReaction = errors.New("relations: invalid reaction")

// Reaction is one m.reaction (an m.annotation) to an event.
type Reaction struct {
	EventID string
	Sender  string
	Key     string
	// StreamPos orders reactions by arrival.
	StreamPos int64
}

// ReactionCount is the aggregate of one key on one event.
type ReactionCount struct {
	Key string
	// Count is the number of distinct users who reacted with Key.
	Count int
	// Users are those users, in the order they first reacted with Key.
	Users []string
}

// Aggregate counts reactions per key: each user once per key, however
// many identical reactions arrived (a remote server may send duplicates),
// users in order of their first reaction and keys in order of first use
// (by StreamPos; ties keep the order of the slice). Reactions with an
// invalid key (see CheckKey) are ignored. Redacted reactions must not be
// passed.
//
// https://spec.matrix.org/latest/client-server-api/#annotations-client-behaviour
func Aggregate(rs []Reaction) []ReactionCount {
	sorted := slices.Clone(rs)
	slices.SortStableFunc(sorted, func(a, b Reaction) int { return cmp.Compare(a.StreamPos, b.StreamPos) })

	var out []ReactionCount
	index := map[string]int{}    // key -> position in out
	seen := map[[2]string]bool{} // (key, sender) already counted
	for _, r := range sorted {
		if CheckKey(r.Key) != nil || seen[[2]string{r.Key, r.Sender}] {
			continue
		}
		seen[[2]string{r.Key, r.Sender}] = true
		i, ok := index[r.Key]
		if !ok {
			i = len(out)
			index[r.Key] = i
			out = append(out, ReactionCount{Key: r.Key})
		}
		out[i].Count++
		out[i].Users = append(out[i].Users, r.Sender)
	}
	return out
}

// CheckKey reports whether key can be an annotation key: not empty and at
// most MaxReactionKey bytes. Errors wrap ErrInvalidReaction.
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidReaction)
	case len(key) > MaxReactionKey:
		return fmt.Errorf("%w: key of %d bytes (at most %d)", ErrInvalidReaction, len(key), MaxReactionKey)
	}
	return nil
}

// CheckNewReaction reports whether sender may send a reaction with key to
// an event whose current (unredacted) reactions are existing: the key must
// be valid, and the same user may not send the same key twice
// (ErrDuplicateAnnotation).
//
// https://spec.matrix.org/latest/client-server-api/#avoiding-duplicate-annotations
func CheckNewReaction(existing []Reaction, sender, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	for _, r := range existing {
		if r.Sender == sender && r.Key == key {
			return fmt.Errorf("%w: %s already reacted with %q (%s)", ErrDuplicateAnnotation, sender, key, r.EventID)
		}
	}
	return nil
}

// CheckAnnotationTarget reports whether target may be annotated: it must be
// in the annotation's room, and not itself an annotation or an edit
// ("Annotations should instead refer to the original event"). Errors wrap
// ErrInvalidReaction.
//
// https://spec.matrix.org/latest/client-server-api/#annotations-client-behaviour
func CheckAnnotationTarget(roomID string, target Event) error {
	if target.RoomID != roomID {
		return fmt.Errorf("%w: %s is in another room", ErrInvalidReaction, target.EventID)
	}
	if rel := content.ParseRelatesTo(target.Content); rel != nil &&
		(rel.RelType == content.RelAnnotation || rel.RelType == content.RelReplace) {
		return fmt.Errorf("%w: %s is itself an %s", ErrInvalidReaction, target.EventID, rel.RelType)
	}
	return nil
}

// ParseReaction reads ev as a reaction: an m.reaction event with a
// well-formed m.annotation relation and a valid key. It returns the
// annotated event's ID, and false for anything else.
func ParseReaction(ev Event) (r Reaction, target string, ok bool) {
	if ev.Type != TypeReaction {
		return Reaction{}, "", false
	}
	rel := content.ParseRelatesTo(ev.Content)
	if rel == nil || rel.RelType != content.RelAnnotation || CheckKey(rel.Key) != nil {
		return Reaction{}, "", false
	}
	return Reaction{EventID: ev.EventID, Sender: ev.Sender, Key: rel.Key, StreamPos: ev.StreamPos}, rel.EventID, true
}

// ReactionContent builds the content of an m.reaction to targetID with key.
// Errors wrap ErrInvalidReaction.
func ReactionContent(targetID, key string) ([]byte, error) {
	if !content.IsEventID(targetID) {
		return nil, fmt.Errorf("%w: %q is not an event ID", ErrInvalidReaction, targetID)
	}
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	b, err := json.Marshal(map[string]any{"m.relates_to": map[string]string{
		"rel_type": content.RelAnnotation,
		"event_id": targetID,
		"key":      key,
	}})
	if err != nil {
		return nil, fmt.Errorf("relations: reaction content: %w", err)
	}
	return b, nil
}
