package homeserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Rich messages, edits and reactions between two real servers, both
// directions, in room versions 10 and 12.

func TestRichMessagesBothWays(t *testing.T) {
	for _, version := range []string{"10", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			a, b := twoPeers(t)
			ctx := context.Background()
			roomID := sharedRoom(t, a, b, version)
			root := say(t, a, b, roomID, "alice", "root message")

			// Formatted emote with mentions, from a to b.
			_, err := a.srv.Send(ctx, roomID, "alice", MessageContent{MsgType: "m.emote", Body: "waves",
				FormattedBody: "<b>waves</b>", Mentions: []string{b.userID("bob")}})
			if err != nil {
				t.Fatal(err)
			}
			m := waitMessage(t, b.messages, "waves")
			if m.MsgType != "m.emote" || m.Format != "org.matrix.custom.html" || m.FormattedBody != "<b>waves</b>" ||
				len(m.Mentions) != 1 || m.Mentions[0] != b.userID("bob") {
				t.Fatalf("emote as b sees it: %+v", m)
			}

			// A reply from b to a.
			reply, err := b.srv.Send(ctx, roomID, "bob", MessageContent{Body: "a reply", ReplyTo: root})
			if err != nil {
				t.Fatal(err)
			}
			m = waitMessage(t, a.messages, "a reply")
			if m.ReplyTo != root || m.ThreadRoot != "" || m.EventID != reply {
				t.Fatalf("reply as a sees it: %+v", m)
			}

			// A thread: the first message falls back to the root, the
			// second to the first; a reply in the thread is a real reply.
			t1, err := b.srv.Send(ctx, roomID, "bob", MessageContent{Body: "thread one", ThreadRoot: root})
			if err != nil {
				t.Fatal(err)
			}
			m = waitMessage(t, a.messages, "thread one")
			if m.ThreadRoot != root || m.ReplyTo != "" {
				t.Fatalf("thread message: %+v", m)
			}
			if _, err := b.srv.Send(ctx, roomID, "bob", MessageContent{Body: "thread two", ThreadRoot: root}); err != nil {
				t.Fatal(err)
			}
			waitMessage(t, a.messages, "thread two")
			ev, err := a.srv.store.Event(ctx, m.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(ev.JSON), `"is_falling_back":true`) || !strings.Contains(string(ev.JSON), `"m.in_reply_to":{"event_id":"`+root+`"}`) {
				t.Fatalf("first thread message has not the fallback to the root: %s", ev.JSON)
			}
			if _, err := a.srv.Send(ctx, roomID, "alice", MessageContent{Body: "reply in thread", ReplyTo: t1}); err != nil {
				t.Fatal(err)
			}
			m = waitMessage(t, b.messages, "reply in thread")
			if m.ThreadRoot != root || m.ReplyTo != t1 {
				t.Fatalf("a reply to a thread message goes in the thread as a real reply: %+v", m)
			}
			rels, err := a.srv.Relations(ctx, roomID, root)
			if err != nil || len(rels.Thread) != 3 {
				t.Fatalf("thread of the root: %+v %v", rels, err)
			}

			// Refusals before anything is sent.
			for name, c := range map[string]struct {
				m    MessageContent
				want error
			}{
				"empty body":            {MessageContent{}, ErrInvalidContent},
				"unknown msgtype":       {MessageContent{MsgType: "m.bogus", Body: "x"}, ErrInvalidContent},
				"reply to unknown":      {MessageContent{Body: "x", ReplyTo: "$nope"}, ErrUnknownEvent},
				"thread of unknown":     {MessageContent{Body: "x", ThreadRoot: "$nope"}, ErrUnknownEvent},
				"thread of a thread":    {MessageContent{Body: "x", ThreadRoot: t1}, ErrInvalidThreadRoot},
				"mention of a non-user": {MessageContent{Body: "x", Mentions: []string{"bob"}}, ErrInvalidUserID},
			} {
				if _, err := a.srv.Send(ctx, roomID, "alice", c.m); !errors.Is(err, c.want) {
					t.Errorf("%s: %v, want %v", name, err, c.want)
				}
			}
		})
	}
}

func TestHostileHTMLIsSanitised(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	html := `<p onclick="x()">hi <a href="javascript:alert(1)">link</a><img src="https://evil.example/x.png" onerror="alert(1)"></p>` +
		strings.Repeat(`<script>alert(1)</script>`, 60*1024/25)
	// Sent raw through the rooms engine, as a hostile server would.
	if _, err := b.srv.rooms.Send(ctx, roomID, b.userID("bob"), "m.room.message", nil, map[string]any{
		"msgtype": "m.text", "body": "hostile", "format": "org.matrix.custom.html", "formatted_body": html}); err != nil {
		t.Fatal(err)
	}
	check := func(where string, m Message) {
		t.Helper()
		for _, bad := range []string{"<script", "onclick", "onerror", "javascript:", "evil.example"} {
			if strings.Contains(m.FormattedBody, bad) {
				t.Fatalf("%s: %q left in %q", where, bad, m.FormattedBody[:min(200, len(m.FormattedBody))])
			}
		}
		if !strings.Contains(m.FormattedBody, "<p>hi ") {
			t.Fatalf("%s: the harmless part is lost: %q", where, m.FormattedBody)
		}
	}
	m := waitMessage(t, a.messages, "hostile")
	check("hook", m)
	got, err := a.srv.Message(ctx, roomID, m.EventID)
	if err != nil {
		t.Fatal(err)
	}
	check("Message", got)
}

func TestEdits(t *testing.T) {
	for _, version := range []string{"10", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			a, b := twoPeers(t)
			ctx := context.Background()
			roomID := sharedRoom(t, a, b, version)
			orig := say(t, a, b, roomID, "alice", "helo")
			bobs := say(t, b, a, roomID, "bob", "bob's words")

			edit, err := a.srv.Edit(ctx, roomID, "alice", orig, MessageContent{Body: "hello", FormattedBody: "<i>hello</i>"})
			if err != nil {
				t.Fatal(err)
			}
			e := expect(t, "edit on b", b.edited, func(e Edit) bool { return e.EventID == edit })
			if e.Target != orig || e.Body != "hello" || e.FormattedBody != "<i>hello</i>" || e.Sender != a.userID("alice") {
				t.Fatalf("edit as b sees it: %+v", e)
			}
			for _, p := range []*peer{a, b} {
				m, err := p.srv.Message(ctx, roomID, orig)
				if err != nil {
					t.Fatal(err)
				}
				if !m.Edited || m.Body != "hello" || m.EditID != edit || m.EditedAt.IsZero() {
					t.Fatalf("%s: edited message: %+v", p.name, m)
				}
			}
			// The original is never rewritten, and the edit is no message of its own.
			ev, _ := b.srv.store.Event(ctx, orig)
			if !strings.Contains(string(ev.JSON), `"body":"helo"`) {
				t.Fatalf("original rewritten: %s", ev.JSON)
			}
			msgs, err := b.srv.Messages(ctx, roomID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if m.EventID == edit || strings.HasPrefix(m.Body, "* ") {
					t.Fatalf("the edit is listed as a message: %+v", m)
				}
			}
			// A second edit wins.
			edit2, err := a.srv.Edit(ctx, roomID, "alice", orig, MessageContent{Body: "hello!"})
			if err != nil {
				t.Fatal(err)
			}
			expect(t, "second edit on b", b.edited, func(e Edit) bool { return e.EventID == edit2 })
			if m, _ := b.srv.Message(ctx, roomID, orig); m.Body != "hello!" || m.EditID != edit2 || m.FormattedBody != "" {
				t.Fatalf("latest edit: %+v", m)
			}
			if rels, err := b.srv.Relations(ctx, roomID, orig); err != nil || len(rels.Edits) != 2 || rels.Edits[1].EventID != edit2 {
				t.Fatalf("relations: %+v %v", rels, err)
			}

			// What the spec calls invalid is refused before sending.
			sk := ""
			state := sendState(t, a, roomID, "alice", "m.room.topic", sk, map[string]any{"topic": "t"})
			sticker, err := a.srv.SendEvent(ctx, roomID, "alice", "m.sticker", nil, json.RawMessage(`{"body":"s","url":"mxc://x/y"}`))
			if err != nil {
				t.Fatal(err)
			}
			other, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Name: "Other", Version: version})
			if err != nil {
				t.Fatal(err)
			}
			for name, c := range map[string]struct {
				room, target string
				want         []error
			}{
				"another sender's message":  {roomID, bobs, []error{ErrForbidden, ErrInvalidEdit}},
				"a state event":             {roomID, state, []error{ErrInvalidEdit}},
				"an edit":                   {roomID, edit, []error{ErrInvalidEdit}},
				"another event type":        {roomID, sticker, []error{ErrInvalidEdit}},
				"a message in another room": {other, orig, []error{ErrUnknownEvent}},
				"an unknown event":          {roomID, "$unknown", []error{ErrUnknownEvent}},
			} {
				_, err := a.srv.Edit(ctx, c.room, "alice", c.target, MessageContent{Body: "x"})
				for _, w := range c.want {
					if !errors.Is(err, w) {
						t.Errorf("edit of %s: %v, want %v", name, err, w)
					}
				}
			}
		})
	}
}

// Invalid edits a hostile server sends are stored as the auth rules say,
// never applied, never reported.
func TestInvalidInboundEdits(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	alices := say(t, a, b, roomID, "alice", "alice's")
	bobs := say(t, b, a, roomID, "bob", "bob's")
	bobEdit, err := b.srv.Edit(ctx, roomID, "bob", bobs, MessageContent{Body: "bob's, edited"})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "bob's valid edit", a.edited, func(e Edit) bool { return e.EventID == bobEdit })

	raw := func(typ, target string, newContent any) string {
		t.Helper()
		c := map[string]any{"msgtype": "m.text", "body": "* evil",
			"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": target}}
		if newContent != nil {
			c["m.new_content"] = newContent
		}
		ev, err := b.srv.rooms.Send(ctx, roomID, b.userID("bob"), typ, nil, c)
		if err != nil {
			t.Fatal(err)
		}
		return ev.EventID()
	}
	nc := map[string]any{"msgtype": "m.text", "body": "evil"}
	cases := map[string]string{
		"edit by another user":        raw("m.room.message", alices, nc),
		"edit that changes type":      raw("m.sticker", bobs, nc),
		"edit of an edit":             raw("m.room.message", bobEdit, nc),
		"m.new_content not an object": raw("m.room.message", bobs, "evil"),
		"m.new_content missing":       raw("m.room.message", bobs, nil),
	}
	last := say(t, b, a, roomID, "bob", "after the hostile edits")
	_ = last
	for name, id := range cases {
		if !stored(t, a, id) {
			t.Errorf("%s: not stored", name)
		}
	}
	nothingOn(t, "an invalid edit reported", a.edited, 300*time.Millisecond)
	for id, want := range map[string]string{alices: "alice's", bobs: "bob's, edited", bobEdit: ""} {
		m, err := a.srv.Message(ctx, roomID, id)
		if want == "" {
			if !errors.Is(err, ErrUnknownEvent) {
				t.Errorf("an edit read as a message: %+v %v", m, err)
			}
			continue
		}
		if err != nil || m.Body != want {
			t.Errorf("%s: %+v %v, want body %q", id, m, err, want)
		}
	}
}

func TestReactions(t *testing.T) {
	for _, version := range []string{"10", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			a, b := twoPeers(t)
			ctx := context.Background()
			roomID := sharedRoom(t, a, b, version)
			msg := say(t, a, b, roomID, "alice", "react to me")

			r1, err := b.srv.React(ctx, roomID, "bob", msg, "👍")
			if err != nil {
				t.Fatal(err)
			}
			r := expect(t, "bob's reaction on a", a.reactions, func(r Reaction) bool { return r.EventID == r1 })
			if r.Target != msg || r.Key != "👍" || r.Removed || r.Sender != b.userID("bob") {
				t.Fatalf("reaction: %+v", r)
			}
			if _, err := a.srv.React(ctx, roomID, "alice", msg, "👍"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.srv.React(ctx, roomID, "alice", msg, "🎉"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.srv.React(ctx, roomID, "alice", msg, "👍"); !errors.Is(err, ErrDuplicateAnnotation) {
				t.Fatalf("a second identical reaction: %v", err)
			}
			if _, err := a.srv.React(ctx, roomID, "alice", "$unknown", "👍"); !errors.Is(err, ErrUnknownEvent) {
				t.Fatalf("a reaction to an unknown event: %v", err)
			}
			if _, err := a.srv.React(ctx, roomID, "alice", r1, "👍"); !errors.Is(err, ErrInvalidReaction) {
				t.Fatalf("a reaction to a reaction: %v", err)
			}
			if _, err := a.srv.React(ctx, roomID, "alice", msg, ""); !errors.Is(err, ErrInvalidReaction) {
				t.Fatalf("an empty key: %v", err)
			}
			want := `[{👍 2 [@bob:hs-b.test @alice:hs-a.test]} {🎉 1 [@alice:hs-a.test]}]`
			eventually(t, "reactions on b", 10*time.Second, func() error {
				m, err := b.srv.Message(ctx, roomID, msg)
				if err != nil {
					return err
				}
				if got := fmtReactions(m.Reactions); got != want {
					return errors.New(got)
				}
				return nil
			})

			// Un-react redacts the reaction: it leaves the counts on both sides.
			if err := b.srv.Unreact(ctx, roomID, "bob", msg, "👍"); err != nil {
				t.Fatal(err)
			}
			r = expect(t, "removal on a", a.reactions, func(r Reaction) bool { return r.Removed && r.EventID == r1 })
			if r.Key != "👍" || r.Target != msg {
				t.Fatalf("removal: %+v", r)
			}
			if err := b.srv.Unreact(ctx, roomID, "bob", msg, "👍"); !errors.Is(err, ErrUnknownEvent) {
				t.Fatalf("un-react twice: %v", err)
			}
			want = `[{👍 1 [@alice:hs-a.test]} {🎉 1 [@alice:hs-a.test]}]`
			for _, p := range []*peer{a, b} {
				eventually(t, "reactions after un-react on "+p.name, 10*time.Second, func() error {
					m, err := p.srv.Message(ctx, roomID, msg)
					if err != nil {
						return err
					}
					if got := fmtReactions(m.Reactions); got != want {
						return errors.New(got)
					}
					return nil
				})
			}
			// And bob may react with it again.
			if _, err := b.srv.React(ctx, roomID, "bob", msg, "👍"); err != nil {
				t.Fatalf("react again after un-react: %v", err)
			}
		})
	}
}

// fmtReactions prints reactions as [{key count [users]} ...].
func fmtReactions(rs []ReactionCount) string { return fmt.Sprint(rs) }

// A reaction to an event the server does not have, a relation cycle and
// a duplicate from a hostile server never mislead the host.
func TestHostileRelations(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	msg := say(t, a, b, roomID, "alice", "target")
	send := func(typ string, c map[string]any) string {
		t.Helper()
		ev, err := b.srv.rooms.Send(ctx, roomID, b.userID("bob"), typ, nil, c)
		if err != nil {
			t.Fatal(err)
		}
		return ev.EventID()
	}
	ann := func(target, key string) map[string]any {
		return map[string]any{"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": target, "key": key}}
	}
	unknown := send("m.reaction", ann("$doesnotexist", "👍"))
	first := send("m.reaction", ann(msg, "👀"))
	dup := send("m.reaction", ann(msg, "👀")) // a server that ignores M_DUPLICATE_ANNOTATION
	// A cycle: x replies to y and y to x (y's ID is not known when x is
	// built, so x names an edit-free thread root that relates back).
	x := send("m.room.message", map[string]any{"msgtype": "m.text", "body": "x",
		"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": msg, "m.in_reply_to": map[string]any{"event_id": msg}}})
	y := send("m.room.message", map[string]any{"msgtype": "m.text", "body": "y",
		"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": x, "m.in_reply_to": map[string]any{"event_id": x}}})
	z := send("m.room.message", map[string]any{"msgtype": "m.text", "body": "z",
		"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": y, "m.in_reply_to": map[string]any{"event_id": y}}})
	say(t, b, a, roomID, "bob", "done")

	expect(t, "the first reaction", a.reactions, func(r Reaction) bool { return r.EventID == first })
	got := []string{}
	deadline := time.After(500 * time.Millisecond)
	for done := false; !done; {
		select {
		case r := <-a.reactions:
			got = append(got, r.EventID)
		case <-deadline:
			done = true
		}
	}
	for _, id := range got {
		if id == unknown || id == dup {
			t.Fatalf("a reaction to an unknown event or a duplicate was reported: %s", id)
		}
	}
	m, err := a.srv.Message(ctx, roomID, msg)
	if err != nil {
		t.Fatal(err)
	}
	if fmtReactions(m.Reactions) != `[{👀 1 [@bob:hs-b.test]}]` {
		t.Fatalf("counts: %v", fmtReactions(m.Reactions))
	}
	msgs, err := a.srv.Messages(ctx, roomID, 0, 100) // the cycle does not hang or break the listing
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.EventID == x || m.EventID == y || m.EventID == z {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("listed %d of the 3 cyclic messages", n)
	}
	if _, err := a.srv.Send(ctx, roomID, "alice", MessageContent{Body: "in y's thread", ReplyTo: z}); err != nil {
		t.Fatalf("a reply into a chain of thread roots: %v", err)
	}
}

func TestSendEvent(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	id, err := a.srv.SendEvent(ctx, roomID, "alice", "com.example.custom", nil, json.RawMessage(`{"answer":42}`))
	if err != nil {
		t.Fatal(err)
	}
	e := expect(t, "custom event on b", b.events, func(e Event) bool { return e.EventID == id })
	if e.Type != "com.example.custom" || e.StateKey != nil || string(e.Content) != `{"answer":42}` {
		t.Fatalf("custom event: %+v", e)
	}
	sk := ""
	pin, err := b.srv.SendEvent(ctx, roomID, "bob", "m.room.pinned_events", &sk, json.RawMessage(`{"pinned":["`+id+`"]}`))
	if !errors.Is(err, ErrForbidden) {
		// bob (power 0) may not send state at state_default 50.
		t.Fatalf("a state event without the power: %s %v", pin, err)
	}
	pin, err = a.srv.SendEvent(ctx, roomID, "alice", "m.room.pinned_events", &sk, json.RawMessage(`{"pinned":["`+id+`"]}`))
	if err != nil {
		t.Fatal(err)
	}
	e = expect(t, "pin on b", b.events, func(e Event) bool { return e.EventID == pin })
	if e.StateKey == nil || *e.StateKey != "" {
		t.Fatalf("state event: %+v", e)
	}
	for _, typ := range []string{"m.room.create", "m.room.member", "m.room.encryption", "m.room.encrypted", "m.room.redaction", ""} {
		if _, err := a.srv.SendEvent(ctx, roomID, "alice", typ, nil, json.RawMessage(`{}`)); !errors.Is(err, ErrEventTypeNotAllowed) {
			t.Errorf("%q: %v", typ, err)
		}
	}
	for _, c := range []string{`[]`, `"x"`, `null`, ``, `{"a":`} {
		if _, err := a.srv.SendEvent(ctx, roomID, "alice", "com.example", nil, json.RawMessage(c)); !errors.Is(err, ErrInvalidContent) {
			t.Errorf("content %q: %v", c, err)
		}
	}
	msg := say(t, a, b, roomID, "alice", "to react to")
	react := json.RawMessage(`{"m.relates_to":{"rel_type":"m.annotation","event_id":"` + msg + `","key":"x"}}`)
	if _, err := a.srv.SendEvent(ctx, roomID, "alice", "m.reaction", nil, react); err != nil {
		t.Fatal(err)
	}
	if _, err := a.srv.SendEvent(ctx, roomID, "alice", "m.reaction", nil, react); !errors.Is(err, ErrDuplicateAnnotation) {
		t.Fatalf("a duplicate through SendEvent: %v", err)
	}
}
