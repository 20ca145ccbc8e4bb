package relations

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestAggregate(t *testing.T) {
	r := func(id, sender, key string, pos int64) Reaction {
		return Reaction{EventID: id, Sender: sender, Key: key, StreamPos: pos}
	}
	tests := map[string]struct {
		in   []Reaction
		want []ReactionCount
	}{
		"none": {nil, nil},
		"one": {
			[]Reaction{r("$1", "@a:x", "👍", 1)},
			[]ReactionCount{{Key: "👍", Count: 1, Users: []string{"@a:x"}}},
		},
		"keys by first use, users by first reaction": {
			[]Reaction{r("$1", "@b:x", "👍", 1), r("$2", "@a:x", "🎉", 2), r("$3", "@a:x", "👍", 3), r("$4", "@c:y", "🎉", 4)},
			[]ReactionCount{{Key: "👍", Count: 2, Users: []string{"@b:x", "@a:x"}}, {Key: "🎉", Count: 2, Users: []string{"@a:x", "@c:y"}}},
		},
		"ordered by stream position, not slice order": {
			[]Reaction{r("$3", "@a:x", "🎉", 30), r("$1", "@b:x", "👍", 10), r("$2", "@c:x", "🎉", 20)},
			[]ReactionCount{{Key: "👍", Count: 1, Users: []string{"@b:x"}}, {Key: "🎉", Count: 2, Users: []string{"@c:x", "@a:x"}}},
		},
		"duplicate from a remote server counts once": {
			[]Reaction{r("$1", "@a:y", "👍", 1), r("$2", "@a:y", "👍", 2), r("$3", "@b:y", "👍", 3)},
			[]ReactionCount{{Key: "👍", Count: 2, Users: []string{"@a:y", "@b:y"}}},
		},
		"same user, two keys": {
			[]Reaction{r("$1", "@a:y", "👍", 1), r("$2", "@a:y", "👎", 2)},
			[]ReactionCount{{Key: "👍", Count: 1, Users: []string{"@a:y"}}, {Key: "👎", Count: 1, Users: []string{"@a:y"}}},
		},
		"keys differing only in variation selector are distinct": {
			[]Reaction{r("$1", "@a:y", "❤", 1), r("$2", "@b:y", "❤️", 2)},
			[]ReactionCount{{Key: "❤", Count: 1, Users: []string{"@a:y"}}, {Key: "❤️", Count: 1, Users: []string{"@b:y"}}},
		},
		"invalid keys ignored": {
			[]Reaction{r("$1", "@a:y", "", 1), r("$2", "@b:y", strings.Repeat("x", MaxReactionKey+1), 2), r("$3", "@c:y", "ok", 3)},
			[]ReactionCount{{Key: "ok", Count: 1, Users: []string{"@c:y"}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Aggregate(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Aggregate\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAggregateDoesNotReorderInput(t *testing.T) {
	in := []Reaction{{EventID: "$2", Sender: "@a:x", Key: "k", StreamPos: 2}, {EventID: "$1", Sender: "@b:x", Key: "k", StreamPos: 1}}
	Aggregate(in)
	if in[0].EventID != "$2" {
		t.Errorf("Aggregate sorted its argument: %+v", in)
	}
}

func TestCheckNewReaction(t *testing.T) {
	existing := []Reaction{{EventID: "$1", Sender: "@alice:a.org", Key: "👍"}, {EventID: "$2", Sender: "@bob:b.org", Key: "🎉"}}
	tests := map[string]struct {
		sender, key string
		want        error
	}{
		"new key":                       {"@alice:a.org", "🎉", nil},
		"new user":                      {"@carol:a.org", "👍", nil},
		"duplicate":                     {"@alice:a.org", "👍", ErrDuplicateAnnotation},
		"empty key":                     {"@alice:a.org", "", ErrInvalidReaction},
		"key at the bound":              {"@alice:a.org", strings.Repeat("k", MaxReactionKey), nil},
		"key over the bound":            {"@alice:a.org", strings.Repeat("k", MaxReactionKey+1), ErrInvalidReaction},
		"trailing space is another key": {"@bob:b.org", "🎉 ", nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckNewReaction(existing, tc.sender, tc.key)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("CheckNewReaction = %v, want %v", err, tc.want)
			}
		})
	}
	if !strings.Contains(ErrDuplicateAnnotation.Error(), "M_DUPLICATE_ANNOTATION") {
		t.Errorf("ErrDuplicateAnnotation = %q does not name M_DUPLICATE_ANNOTATION", ErrDuplicateAnnotation)
	}
}

func TestCheckAnnotationTarget(t *testing.T) {
	tests := map[string]struct {
		target Event
		ok     bool
	}{
		"message":      {Event{EventID: "$m", RoomID: "!r:a", Content: []byte(`{"body":"x"}`)}, true},
		"state event":  {Event{EventID: "$s", RoomID: "!r:a", IsState: true, Content: []byte(`{"name":"x"}`)}, true},
		"thread reply": {Event{EventID: "$t", RoomID: "!r:a", Content: []byte(`{"m.relates_to":{"rel_type":"m.thread","event_id":"$root"}}`)}, true},
		"other room":   {Event{EventID: "$m", RoomID: "!other:a", Content: []byte(`{}`)}, false},
		"an edit":      {Event{EventID: "$e", RoomID: "!r:a", Content: []byte(`{"m.relates_to":{"rel_type":"m.replace","event_id":"$m"}}`)}, false},
		"a reaction":   {Event{EventID: "$x", RoomID: "!r:a", Content: []byte(`{"m.relates_to":{"rel_type":"m.annotation","event_id":"$m","key":"k"}}`)}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckAnnotationTarget("!r:a", tc.target)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidReaction)) {
				t.Errorf("CheckAnnotationTarget = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestParseReaction(t *testing.T) {
	tests := map[string]struct {
		ev     Event
		target string // "" when not a reaction
	}{
		"reaction":       {Event{Type: TypeReaction, Content: []byte(`{"m.relates_to":{"rel_type":"m.annotation","event_id":"$m","key":"👍"}}`)}, "$m"},
		"not m.reaction": {Event{Type: TypeMessage, Content: []byte(`{"m.relates_to":{"rel_type":"m.annotation","event_id":"$m","key":"👍"}}`)}, ""},
		"not annotation": {Event{Type: TypeReaction, Content: []byte(`{"m.relates_to":{"rel_type":"m.reference","event_id":"$m","key":"👍"}}`)}, ""},
		"no key":         {Event{Type: TypeReaction, Content: []byte(`{"m.relates_to":{"rel_type":"m.annotation","event_id":"$m"}}`)}, ""},
		"key a number":   {Event{Type: TypeReaction, Content: []byte(`{"m.relates_to":{"rel_type":"m.annotation","event_id":"$m","key":1}}`)}, ""},
		"bad target":     {Event{Type: TypeReaction, Content: []byte(`{"m.relates_to":{"rel_type":"m.annotation","event_id":"m","key":"k"}}`)}, ""},
		"content array":  {Event{Type: TypeReaction, Content: []byte(`[]`)}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.ev.EventID, tc.ev.Sender, tc.ev.StreamPos = "$r", "@a:x", 7
			r, target, ok := ParseReaction(tc.ev)
			if ok != (tc.target != "") || target != tc.target {
				t.Fatalf("ParseReaction = %+v, %q, %v; want target %q", r, target, ok, tc.target)
			}
			if ok && (r.EventID != "$r" || r.Sender != "@a:x" || r.Key == "" || r.StreamPos != 7) {
				t.Errorf("ParseReaction = %+v", r)
			}
		})
	}
}

func TestReactionContent(t *testing.T) {
	tests := map[string]struct {
		target, key string
		want        string
		err         error
	}{
		"emoji":      {"$m", "👍", `{"m.relates_to":{"event_id":"$m","key":"👍","rel_type":"m.annotation"}}`, nil},
		"bad target": {"m", "👍", "", ErrInvalidReaction},
		"empty key":  {"$m", "", "", ErrInvalidReaction},
		"long key":   {"$m", strings.Repeat("x", MaxReactionKey+1), "", ErrInvalidReaction},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ReactionContent(tc.target, tc.key)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("ReactionContent err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			var a, b any
			_ = json.Unmarshal(got, &a)
			_ = json.Unmarshal([]byte(tc.want), &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("ReactionContent = %s, want %s", got, tc.want)
			}
			// What we build is what we read.
			if _, target, ok := ParseReaction(Event{Type: TypeReaction, Content: got}); !ok || target != tc.target {
				t.Errorf("ParseReaction of our own reaction: %q, %v", target, ok)
			}
		})
	}
}
