package relations_test

import (
	"fmt"

	"github.com/embedmatrix/homeserver/content"
	"github.com/embedmatrix/homeserver/relations"
)

// An edit is built, checked against the original and shown; a forged edit
// by another user is ignored.
func ExampleLatestEdit() {
	original := relations.Event{EventID: "$hello", RoomID: "!r:a.org", Type: relations.TypeMessage,
		Sender: "@alice:a.org", OriginServerTS: 100, Content: []byte(`{"msgtype":"m.text","body":"helo"}`)}

	edit := relations.EditContent("$hello", content.Message{MsgType: content.MsgText, Body: "hello"})
	raw, _ := edit.JSON()
	fmt.Println(string(raw))

	edits := []relations.Event{
		{EventID: "$fix", RoomID: "!r:a.org", Type: relations.TypeMessage, Sender: "@alice:a.org", OriginServerTS: 200, Content: raw},
		{EventID: "$forged", RoomID: "!r:a.org", Type: relations.TypeMessage, Sender: "@mallory:b.org", OriginServerTS: 300, Content: raw},
	}
	latest, ok := relations.LatestEdit(original, edits)
	shown, _ := relations.ApplyEdit(original, latest)
	fmt.Println(latest.EventID, ok, shown.Body)
	fmt.Println(relations.CheckEdit(original, edits[1]))
	// Output:
	// {"body":"* hello","m.new_content":{"body":"hello","msgtype":"m.text"},"m.relates_to":{"event_id":"$hello","rel_type":"m.replace"},"msgtype":"m.text"}
	// $fix true hello
	// relations: invalid edit: $forged is sent by @mallory:b.org, $hello by @alice:a.org
}

func ExampleAggregate() {
	counts := relations.Aggregate([]relations.Reaction{
		{EventID: "$1", Sender: "@bob:b.org", Key: "👍", StreamPos: 1},
		{EventID: "$2", Sender: "@alice:a.org", Key: "🎉", StreamPos: 2},
		{EventID: "$3", Sender: "@alice:a.org", Key: "👍", StreamPos: 3},
		{EventID: "$4", Sender: "@bob:b.org", Key: "👍", StreamPos: 4}, // a duplicate: counted once
	})
	for _, c := range counts {
		fmt.Println(c.Key, c.Count, c.Users)
	}
	err := relations.CheckNewReaction([]relations.Reaction{{Sender: "@bob:b.org", Key: "👍"}}, "@bob:b.org", "👍")
	fmt.Println(err != nil)
	// Output:
	// 👍 2 [@bob:b.org @alice:a.org]
	// 🎉 1 [@alice:a.org]
	// true
}

func ExampleThreadContent() {
	msg := relations.ThreadContent(content.Message{MsgType: content.MsgText, Body: "in the thread"}, "$root", "$latest", "")
	raw, _ := msg.JSON()
	fmt.Println(string(raw))
	fmt.Printf("root %s, replies to %q\n", relations.ThreadRoot(msg.RelatesTo), relations.ReplyTarget(msg.RelatesTo))
	// Output:
	// {"body":"in the thread","m.relates_to":{"event_id":"$root","is_falling_back":true,"m.in_reply_to":{"event_id":"$latest"},"rel_type":"m.thread"},"msgtype":"m.text"}
	// root $root, replies to ""
}

func ExampleCheckApplyRedaction() {
	levels := relations.ParseRedactLevels([]byte(`{"users":{"@mod:b.org":50}}`), nil)
	target := relations.Event{EventID: "$msg", RoomID: "!r:a.org", Type: relations.TypeMessage, Sender: "@alice:a.org"}
	for _, sender := range []string{"@alice:a.org", "@admin:a.org", "@mod:b.org", "@eve:c.org"} {
		red := relations.Event{EventID: "$red", RoomID: "!r:a.org", Type: relations.TypeRedaction, Sender: sender, Redacts: "$msg"}
		fmt.Println(sender, relations.CheckApplyRedaction(levels, red, target) == nil, relations.MayRedact(levels, sender, target.Sender))
	}
	// Output:
	// @alice:a.org true true
	// @admin:a.org true false
	// @mod:b.org true true
	// @eve:c.org false false
}
