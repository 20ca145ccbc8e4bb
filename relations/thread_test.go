package relations

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/embedmatrix/homeserver/content"
)

func TestReplyContent(t *testing.T) {
	tests := map[string]struct {
		in   content.Message
		want *content.RelatesTo
	}{
		"plain": {content.Message{Body: "x"}, &content.RelatesTo{InReplyTo: "$q"}},
		"keeps a thread, not its fallback flag": {
			content.Message{Body: "x", RelatesTo: &content.RelatesTo{RelType: content.RelThread, EventID: "$root", InReplyTo: "$last", IsFallingBack: true}},
			&content.RelatesTo{RelType: content.RelThread, EventID: "$root", InReplyTo: "$q"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := tc.in.RelatesTo
			var saved content.RelatesTo
			if before != nil {
				saved = *before
			}
			got := ReplyContent(tc.in, "$q")
			if !reflect.DeepEqual(got.RelatesTo, tc.want) {
				t.Errorf("ReplyContent relation = %+v, want %+v", got.RelatesTo, tc.want)
			}
			if got.Body != tc.in.Body {
				t.Errorf("body changed to %q", got.Body)
			}
			if before != nil && *before != saved {
				t.Errorf("ReplyContent changed its argument's relation")
			}
			if ReplyTarget(got.RelatesTo) != "$q" {
				t.Errorf("ReplyTarget = %q, want $q", ReplyTarget(got.RelatesTo))
			}
		})
	}
}

func TestThreadContent(t *testing.T) {
	tests := map[string]struct {
		latest, replyTo string
		want            content.RelatesTo
		replyTarget     string
	}{
		"first in thread: fallback to the root": {"", "",
			content.RelatesTo{RelType: content.RelThread, EventID: "$root", InReplyTo: "$root", IsFallingBack: true}, ""},
		"fallback to the latest": {"$last", "",
			content.RelatesTo{RelType: content.RelThread, EventID: "$root", InReplyTo: "$last", IsFallingBack: true}, ""},
		"real reply in the thread": {"$last", "$q",
			content.RelatesTo{RelType: content.RelThread, EventID: "$root", InReplyTo: "$q"}, "$q"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := ThreadContent(content.Message{MsgType: content.MsgText, Body: "t"}, "$root", tc.latest, tc.replyTo)
			if got.RelatesTo == nil || *got.RelatesTo != tc.want {
				t.Fatalf("ThreadContent relation = %+v, want %+v", got.RelatesTo, tc.want)
			}
			if ThreadRoot(got.RelatesTo) != "$root" {
				t.Errorf("ThreadRoot = %q", ThreadRoot(got.RelatesTo))
			}
			if ReplyTarget(got.RelatesTo) != tc.replyTarget {
				t.Errorf("ReplyTarget = %q, want %q", ReplyTarget(got.RelatesTo), tc.replyTarget)
			}
			// Through the wire and back.
			b, _ := got.JSON()
			if back := content.ParseRelatesTo(b); back == nil || *back != tc.want {
				t.Errorf("parsed back from %s: %+v", b, back)
			}
		})
	}
}

func TestThreadRootAndReplyTarget(t *testing.T) {
	tests := map[string]struct {
		rel         *content.RelatesTo
		root, reply string
	}{
		"nil":                   {nil, "", ""},
		"plain reply":           {&content.RelatesTo{InReplyTo: "$q"}, "", "$q"},
		"thread fallback":       {&content.RelatesTo{RelType: content.RelThread, EventID: "$r", InReplyTo: "$l", IsFallingBack: true}, "$r", ""},
		"thread reply":          {&content.RelatesTo{RelType: content.RelThread, EventID: "$r", InReplyTo: "$q"}, "$r", "$q"},
		"thread, no reply":      {&content.RelatesTo{RelType: content.RelThread, EventID: "$r"}, "$r", ""},
		"edit carries no reply": {&content.RelatesTo{RelType: content.RelReplace, EventID: "$o", InReplyTo: "$q"}, "", ""},
		"falling back outside a thread is a reply": {&content.RelatesTo{RelType: "com.example", EventID: "$x", InReplyTo: "$q", IsFallingBack: true}, "", "$q"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ThreadRoot(tc.rel); got != tc.root {
				t.Errorf("ThreadRoot = %q, want %q", got, tc.root)
			}
			if got := ReplyTarget(tc.rel); got != tc.reply {
				t.Errorf("ReplyTarget = %q, want %q", got, tc.reply)
			}
		})
	}
}

func TestCheckThreadRoot(t *testing.T) {
	tests := map[string]struct {
		root Event
		ok   bool
	}{
		"message":                    {Event{EventID: "$m", RoomID: "!r:a", Content: []byte(`{"body":"x"}`)}, true},
		"a reply can start a thread": {Event{EventID: "$m", RoomID: "!r:a", Content: []byte(`{"m.relates_to":{"m.in_reply_to":{"event_id":"$q"}}}`)}, true},
		"thread message: no nesting": {Event{EventID: "$t", RoomID: "!r:a", Content: []byte(`{"m.relates_to":{"rel_type":"m.thread","event_id":"$root"}}`)}, false},
		"an edit":                    {Event{EventID: "$e", RoomID: "!r:a", Content: []byte(`{"m.relates_to":{"rel_type":"m.replace","event_id":"$m"}}`)}, false},
		"a reaction":                 {Event{EventID: "$x", RoomID: "!r:a", Content: []byte(`{"m.relates_to":{"rel_type":"m.annotation","event_id":"$m","key":"k"}}`)}, false},
		"other room":                 {Event{EventID: "$m", RoomID: "!o:a", Content: []byte(`{}`)}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckThreadRoot("!r:a", tc.root)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidThreadRoot)) {
				t.Errorf("CheckThreadRoot = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestThreadFor(t *testing.T) {
	tests := map[string]struct {
		target Event
		want   string
	}{
		"plain message":  {Event{Content: []byte(`{"body":"x"}`)}, ""},
		"thread message": {Event{Content: []byte(`{"m.relates_to":{"rel_type":"m.thread","event_id":"$root","is_falling_back":true,"m.in_reply_to":{"event_id":"$root"}}}`)}, "$root"},
		// A hostile thread message whose root points back at it: one hop, no loop.
		"self-rooted thread": {Event{EventID: "$a", Content: []byte(`{"m.relates_to":{"rel_type":"m.thread","event_id":"$a"}}`)}, "$a"},
		"bad content":        {Event{Content: []byte(`nope`)}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ThreadFor(tc.target); got != tc.want {
				t.Errorf("ThreadFor = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReplyChain(t *testing.T) {
	reply := func(to string) *content.RelatesTo { return &content.RelatesTo{InReplyTo: to} }
	graph := map[string]*content.RelatesTo{
		"$c": reply("$b"), "$b": reply("$a"), "$a": nil, // c -> b -> a
		"$x": reply("$y"), "$y": reply("$x"), // cycle
		"$self":   reply("$self"),
		"$dangle": reply("$unknown"),
		"$t":      {RelType: content.RelThread, EventID: "$x", InReplyTo: "$x", IsFallingBack: true},
	}
	for i := 0; i < 100; i++ { // a long chain: $l0 -> $l1 -> ... -> $l99
		graph[lid(i)] = reply(lid(i + 1))
	}
	lookup := func(id string) (*content.RelatesTo, bool) { r, ok := graph[id]; return r, ok }
	tests := map[string]struct {
		start string
		max   int
		want  []string
	}{
		"chain":                       {"$c", 0, []string{"$c", "$b", "$a"}},
		"cycle A->B->A":               {"$x", 0, []string{"$x", "$y"}},
		"self reply":                  {"$self", 0, []string{"$self"}},
		"unknown target stops":        {"$dangle", 0, []string{"$dangle"}},
		"unknown start":               {"$nope", 0, nil},
		"thread fallback is no reply": {"$t", 0, []string{"$t"}},
		"bounded by default":          {lid(0), 0, []string{lid(0), lid(1), lid(2), lid(3), lid(4), lid(5), lid(6), lid(7), lid(8), lid(9)}},
		"bounded by max":              {"$c", 2, []string{"$c", "$b"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ReplyChain(tc.start, tc.max, lookup); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ReplyChain(%s) = %v, want %v", tc.start, got, tc.want)
			}
		})
	}
}

func lid(i int) string { return fmt.Sprintf("$l%d", i) }
