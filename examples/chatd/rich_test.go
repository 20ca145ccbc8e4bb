package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// eventPath is an API path under one message, its event ID URL-escaped.
func eventPath(roomID, eventID, rest string) string {
	return roomPath(roomID, "/messages/"+url.PathEscape(eventID)+rest)
}

// reactionPath is the path of one reaction key, URL-escaped.
func reactionPath(roomID, eventID, key string) string {
	return eventPath(roomID, eventID, "/reactions/"+url.PathEscape(key))
}

// post calls the API and returns the event_id it answers with.
func (n *node) post(method, path, user string, body any) string {
	n.t.Helper()
	var out struct {
		EventID string `json:"event_id"`
	}
	n.must(http.StatusOK, method, path, user, body, &out)
	if !strings.HasPrefix(out.EventID, "$") {
		n.t.Fatalf("%s %s: event_id %q is not a Matrix event ID", method, path, out.EventID)
	}
	return out.EventID
}

// message returns one item of GET .../messages as user sees it.
func (n *node) message(user, roomID, eventID string) (messageJSON, error) {
	n.t.Helper()
	for _, m := range n.messages(user, roomID) {
		if m.EventID == eventID {
			return m, nil
		}
	}
	return messageJSON{}, fmt.Errorf("%s: %s is not in the list", n.name(), eventID)
}

// both waits until check holds for the item on both servers.
func both(t *testing.T, a, b *node, roomID, eventID, what string, check func(messageJSON) error) {
	t.Helper()
	for _, s := range []struct {
		n    *node
		user string
	}{{a, "alice"}, {b, "bob"}} {
		eventually(t, s.n.name()+": "+what, func() error {
			m, err := s.n.message(s.user, roomID, eventID)
			if err != nil {
				return err
			}
			return check(m)
		})
	}
}

// POST .../messages with msgtype, formatted_body, reply_to, thread_root
// and mentions: both servers show them, and HTML from the sender arrives
// sanitised.
func TestRichMessages(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	msgs := roomPath(roomID, "/messages")

	hostile := `<b>bold</b> <script>window.pwned=1</script><img src="https://evil.example/x.png" onerror="window.pwned=1">` +
		`<a href="javascript:window.pwned=1">click</a><p onclick="window.pwned=1">para</p>`
	formatted := a.post("POST", msgs, "alice", map[string]any{"body": "bold click para", "formatted_body": hostile,
		"mentions": []string{b.id("bob")}})
	emote := a.post("POST", msgs, "alice", map[string]any{"body": "waves", "msgtype": "m.emote"})
	notice := a.post("POST", msgs, "alice", map[string]any{"body": "server notice", "msgtype": "m.notice"})
	both(t, a, b, roomID, notice, "alice's messages arrive", func(messageJSON) error { return nil })

	reply := b.post("POST", msgs, "bob", map[string]any{"body": "nice", "reply_to": formatted})
	thread := b.post("POST", msgs, "bob", map[string]any{"body": "in the thread", "thread_root": emote})

	both(t, a, b, roomID, formatted, "the formatted body, sanitised", func(m messageJSON) error {
		if m.MsgType != "m.text" || m.Body != "bold click para" {
			return fmt.Errorf("%+v", m)
		}
		if !strings.Contains(m.FormattedBody, "<b>bold</b>") {
			return fmt.Errorf("formatting lost: %q", m.FormattedBody)
		}
		for _, bad := range []string{"<script", "pwned", "onerror", "onclick", "javascript:", "evil.example"} {
			if strings.Contains(m.FormattedBody, bad) {
				return fmt.Errorf("formatted_body keeps %q: %q", bad, m.FormattedBody)
			}
		}
		return nil
	})
	both(t, a, b, roomID, emote, "the emote", func(m messageJSON) error {
		if m.MsgType != "m.emote" || m.Body != "waves" || m.FormattedBody != "" {
			return fmt.Errorf("%+v", m)
		}
		return nil
	})
	both(t, a, b, roomID, notice, "the notice", func(m messageJSON) error {
		if m.MsgType != "m.notice" {
			return fmt.Errorf("%+v", m)
		}
		return nil
	})
	both(t, a, b, roomID, reply, "the reply", func(m messageJSON) error {
		if m.ReplyTo != formatted || m.ThreadRoot != "" || m.Sender != b.id("bob") || m.Body != "nice" {
			return fmt.Errorf("%+v", m)
		}
		return nil
	})
	both(t, a, b, roomID, thread, "the thread message", func(m messageJSON) error {
		if m.ThreadRoot != emote || m.Body != "in the thread" {
			return fmt.Errorf("%+v", m)
		}
		return nil
	})
	// Mentions are not in the list; the library on B has them.
	got, err := b.app.hs.Message(context.Background(), roomID, formatted)
	if err != nil || !slices.Equal(got.Mentions, []string{b.id("bob")}) {
		t.Fatalf("mentions on B: %v %+v", err, got.Mentions)
	}
	// A plain message has the new fields, empty.
	if m, _ := a.message("alice", roomID, emote); m.Reactions == nil || m.Edited || m.Deleted || m.EditedTS != 0 || m.ReplyTo != "" {
		t.Fatalf("a plain message: %+v", m)
	}

	refusals := map[string]struct {
		body    any
		status  int
		errcode string
	}{
		"unknown msgtype":         {map[string]any{"body": "x", "msgtype": "m.image"}, 400, "M_INVALID_PARAM"},
		"reply_to not an event":   {map[string]any{"body": "x", "reply_to": "nope"}, 400, "M_INVALID_PARAM"},
		"thread_root not event":   {map[string]any{"body": "x", "thread_root": "nope"}, 400, "M_INVALID_PARAM"},
		"mention not a user ID":   {map[string]any{"body": "x", "mentions": []string{"bob"}}, 400, "M_INVALID_PARAM"},
		"mentions not a list":     {map[string]any{"body": "x", "mentions": "@bob:b"}, 400, "M_BAD_JSON"},
		"reply to unknown event":  {map[string]any{"body": "x", "reply_to": "$unknown"}, 404, "M_NOT_FOUND"},
		"thread of unknown event": {map[string]any{"body": "x", "thread_root": "$unknown"}, 404, "M_NOT_FOUND"},
		"formatting but no body":  {map[string]any{"formatted_body": "<b>x</b>"}, 400, "M_MISSING_PARAM"},
	}
	for name, c := range refusals {
		t.Run(name, func(t *testing.T) {
			a.refused(c.status, c.errcode, "POST", msgs, "alice", c.body)
		})
	}
}

// PUT .../messages/{event}: the edit shows on the message on both
// servers, never as an item of its own; only the sender may edit.
func TestEditMessage(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	first := a.send("alice", roomID, "helo")
	second := a.send("alice", roomID, "second")
	both(t, a, b, roomID, second, "alice's messages arrive", func(messageJSON) error { return nil })

	editID := a.post("PUT", eventPath(roomID, first, ""), "alice", map[string]string{"body": "hello", "formatted_body": "<i>hello</i>"})
	if editID == first {
		t.Fatal("the answer is the edit's event ID, not the message's")
	}
	both(t, a, b, roomID, first, "the edit", func(m messageJSON) error {
		if !m.Edited || m.EditedTS < m.TS || m.Body != "hello" || m.FormattedBody != "<i>hello</i>" || m.Deleted {
			return fmt.Errorf("%+v", m)
		}
		return nil
	})
	// A fully escaped event ID (%24 for '$', as encodeURIComponent does) works too.
	full := roomPath(roomID, "/messages/"+url.QueryEscape(second))
	a.post("PUT", full, "alice", map[string]string{"body": "second, edited"})
	both(t, a, b, roomID, second, "the second edit", func(m messageJSON) error {
		if !m.Edited || m.Body != "second, edited" || m.FormattedBody != "" {
			return fmt.Errorf("%+v", m)
		}
		return nil
	})
	for _, s := range []struct {
		n    *node
		user string
	}{{a, "alice"}, {b, "bob"}} {
		var ids []string
		for _, m := range s.n.messages(s.user, roomID) {
			ids = append(ids, m.EventID)
		}
		if !slices.Equal(ids, []string{first, second}) {
			t.Fatalf("%s: items %v, want only the two messages (edits are not items)", s.n.name(), ids)
		}
	}

	b.refused(403, "M_FORBIDDEN", "PUT", eventPath(roomID, first, ""), "bob", map[string]string{"body": "mine now"})
	a.refused(403, "M_FORBIDDEN", "PUT", eventPath(roomID, first, ""), "carol", map[string]string{"body": "not joined"})
	a.refused(404, "M_NOT_FOUND", "PUT", eventPath(roomID, "$unknown", ""), "alice", map[string]string{"body": "x"})
	a.refused(400, "M_MISSING_PARAM", "PUT", eventPath(roomID, first, ""), "alice", map[string]string{})
	a.refused(400, "M_INVALID_PARAM", "PUT", roomPath(roomID, "/messages/not-an-event"), "alice", map[string]string{"body": "x"})
	if m, _ := b.message("bob", roomID, first); m.Body != "hello" {
		t.Fatalf("a refused edit changed the message: %+v", m)
	}
}

// DELETE .../messages/{event}: the sender deletes their own message, a
// user with the redact power anyone's; both servers show it deleted with
// no body left. Others are refused.
func TestDeleteMessage(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	own := a.send("alice", roomID, "oops, wrong room")
	bobs := b.send("bob", roomID, "spam spam spam")
	both(t, a, b, roomID, bobs, "the messages arrive", func(messageJSON) error { return nil })

	// bob is a plain user in alice's channel.
	b.refused(403, "M_FORBIDDEN", "DELETE", eventPath(roomID, own, ""), "bob", nil)
	redaction := a.post("DELETE", eventPath(roomID, own, ""), "alice", map[string]string{"reason": "wrong room"})
	if redaction == own {
		t.Fatal("the answer is the redaction's event ID")
	}
	// alice owns the room: she may delete bob's message; no body needed.
	a.post("DELETE", eventPath(roomID, bobs, ""), "alice", nil)
	for _, id := range []string{own, bobs} {
		both(t, a, b, roomID, id, "deleted", func(m messageJSON) error {
			if !m.Deleted || m.Body != "" || m.FormattedBody != "" || len(m.Reactions) != 0 {
				return fmt.Errorf("%+v", m)
			}
			return nil
		})
	}
	// chatd's own log keeps no text of them either, on either server.
	for _, n := range []*node{a, b} {
		eventually(t, n.name()+" forgets the deleted text", func() error {
			logged, err := n.app.db.messages(context.Background(), roomID, 10)
			if err != nil {
				return err
			}
			for _, m := range logged {
				if m.Body != "" {
					return fmt.Errorf("%s still has %q", m.EventID, m.Body)
				}
			}
			return nil
		})
	}
	a.refused(404, "M_NOT_FOUND", "DELETE", eventPath(roomID, "$unknown", ""), "alice", nil)
	a.refused(400, "M_BAD_JSON", "DELETE", eventPath(roomID, own, ""), "alice", map[string]int{"reason": 1})
}

// POST .../reactions and DELETE .../reactions/{key}: counts by key in
// the order keys were first used, who reacted, a second identical
// reaction refused, keys URL-escaped in paths.
func TestReactions(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	msg := a.send("alice", roomID, "react to me")
	both(t, a, b, roomID, msg, "the message arrives", func(messageJSON) error { return nil })
	reactions := eventPath(roomID, msg, "/reactions")

	b.post("POST", reactions, "bob", map[string]string{"key": "👍"})
	eventually(t, "A sees bob's reaction", func() error {
		if m, _ := a.message("alice", roomID, msg); len(m.Reactions) != 1 {
			return fmt.Errorf("%+v", m.Reactions)
		}
		return nil
	})
	a.post("POST", reactions, "alice", map[string]string{"key": "a/b+c"})
	a.post("POST", reactions, "alice", map[string]string{"key": "👍"})
	b.refused(400, "M_DUPLICATE_ANNOTATION", "POST", reactions, "bob", map[string]string{"key": "👍"})

	both(t, a, b, roomID, msg, "the counts", func(m messageJSON) error {
		if len(m.Reactions) != 2 {
			return fmt.Errorf("%+v", m.Reactions)
		}
		up, odd := m.Reactions[0], m.Reactions[1]
		slices.Sort(up.Users)
		want := []string{a.id("alice"), b.id("bob")}
		slices.Sort(want)
		if up.Key != "👍" || up.Count != 2 || !slices.Equal(up.Users, want) {
			return fmt.Errorf("first key: %+v", up)
		}
		if odd.Key != "a/b+c" || odd.Count != 1 || !slices.Equal(odd.Users, []string{a.id("alice")}) {
			return fmt.Errorf("second key: %+v", odd)
		}
		return nil
	})

	// Un-react: the key is URL-escaped ('/' as %2F); the answer is {}.
	r := a.do("DELETE", reactionPath(roomID, msg, "a/b+c"), "alice", nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "{}" {
		t.Fatalf("un-react: %d %s", r.status, r.body)
	}
	b.must(200, "DELETE", roomPath(roomID, "/messages/"+url.QueryEscape(msg)+"/reactions/"+url.QueryEscape("👍")), "bob", nil, nil)
	both(t, a, b, roomID, msg, "the reactions taken back", func(m messageJSON) error {
		if len(m.Reactions) != 1 || m.Reactions[0].Key != "👍" || m.Reactions[0].Count != 1 ||
			!slices.Equal(m.Reactions[0].Users, []string{a.id("alice")}) {
			return fmt.Errorf("%+v", m.Reactions)
		}
		return nil
	})
	// bob may react again once his reaction is gone.
	b.post("POST", reactions, "bob", map[string]string{"key": "👍"})

	a.refused(404, "M_NOT_FOUND", "POST", eventPath(roomID, "$unknown", "/reactions"), "alice", map[string]string{"key": "👍"})
	a.refused(404, "M_NOT_FOUND", "DELETE", reactionPath(roomID, msg, "never used"), "alice", nil)
	a.refused(400, "M_MISSING_PARAM", "POST", reactions, "alice", map[string]string{})
	a.refused(403, "M_FORBIDDEN", "POST", reactions, "carol", map[string]string{"key": "👍"})
}

// POST .../events: any other event type, message-like or state; the
// types with their own lifecycle are refused. Neither kind is an item of
// GET .../messages.
func TestCustomEvents(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	events := roomPath(roomID, "/events")
	a.post("POST", events, "alice", map[string]any{"type": "org.example.poke", "content": map[string]any{"n": 1}})
	a.post("POST", events, "alice", map[string]any{"type": "org.example.setting", "state_key": "", "content": map[string]any{"on": true}})
	a.post("POST", events, "alice", map[string]any{"type": "m.sticker", "content": map[string]any{"body": "a cat", "url": "mxc://x/y", "info": map[string]any{}}})
	if msgs := a.messages("alice", roomID); len(msgs) != 0 {
		t.Fatalf("custom events are not messages: %+v", msgs)
	}

	refusals := map[string]struct {
		body    any
		status  int
		errcode string
	}{
		"m.room.create":          {map[string]any{"type": "m.room.create", "state_key": "", "content": map[string]any{}}, 400, "M_INVALID_PARAM"},
		"m.room.member":          {map[string]any{"type": "m.room.member", "state_key": b.id("bob"), "content": map[string]any{"membership": "join"}}, 400, "M_INVALID_PARAM"},
		"m.room.encryption":      {map[string]any{"type": "m.room.encryption", "state_key": "", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}, 400, "M_INVALID_PARAM"},
		"m.room.encrypted":       {map[string]any{"type": "m.room.encrypted", "content": map[string]any{}}, 400, "M_INVALID_PARAM"},
		"no type":                {map[string]any{"content": map[string]any{}}, 400, "M_MISSING_PARAM"},
		"no content":             {map[string]any{"type": "org.example.x"}, 400, "M_MISSING_PARAM"},
		"content not an object":  {map[string]any{"type": "org.example.x", "content": []int{1}}, 400, "M_BAD_JSON"},
		"state_key not a string": {map[string]any{"type": "org.example.x", "state_key": 1, "content": map[string]any{}}, 400, "M_BAD_JSON"},
	}
	for name, c := range refusals {
		t.Run(name, func(t *testing.T) {
			a.refused(c.status, c.errcode, "POST", events, "alice", c.body)
		})
	}
	b.refused(403, "M_FORBIDDEN", "POST", events, "dave", map[string]any{"type": "org.example.poke", "content": map[string]any{}})
}

// Event IDs and keys in paths are URL-escaped: an ID with '/' and '+'
// (room versions 1-3 have them) reaches the endpoint, which answers that
// it does not know the event, not that there is no such route.
func TestEscapedEventPaths(t *testing.T) {
	a := startNode(t, "alice", "carol")
	roomID := a.create("alice", map[string]any{"name": "R"})
	for _, id := range []string{"$abc/def+ghi", "$a/b/c", "$x+y=="} {
		t.Run(id, func(t *testing.T) {
			a.refused(404, "M_NOT_FOUND", "PUT", eventPath(roomID, id, ""), "alice", map[string]string{"body": "x"})
			a.refused(404, "M_NOT_FOUND", "DELETE", eventPath(roomID, id, ""), "alice", nil)
			a.refused(404, "M_NOT_FOUND", "POST", eventPath(roomID, id, "/reactions"), "alice", map[string]string{"key": "👍"})
			a.refused(404, "M_NOT_FOUND", "DELETE", reactionPath(roomID, id, "a/b"), "alice", nil)
		})
	}
	msg := a.send("alice", roomID, "x")
	shared := []struct {
		method, rest string
		body         any
	}{
		{"PUT", "", map[string]string{"body": "x"}}, {"DELETE", "", nil},
		{"POST", "/reactions", map[string]string{"key": "k"}}, {"DELETE", "/reactions/k", nil},
	}
	for _, e := range shared {
		t.Run(e.method+e.rest, func(t *testing.T) {
			a.refused(401, "M_MISSING_TOKEN", e.method, eventPath(roomID, msg, e.rest), "", nil)
			a.refused(400, "M_INVALID_PARAM", e.method, "/api/rooms/not-a-room/messages/"+url.PathEscape(msg)+e.rest, "alice", nil)
			a.refused(400, "M_INVALID_PARAM", e.method, roomPath(roomID, "/messages/not-an-event"+e.rest), "alice", nil)
			a.refused(405, "M_UNRECOGNIZED", "PATCH", eventPath(roomID, msg, e.rest), "alice", nil)
			a.refused(404, "M_NOT_FOUND", e.method, roomPath("!nowhere:"+a.name(), "/messages/"+url.PathEscape(msg)+e.rest), "alice", e.body)
		})
	}
	a.refused(400, "M_NOT_JSON", "PUT", eventPath(roomID, msg, ""), "alice", "not json")
	a.refused(400, "M_NOT_JSON", "POST", eventPath(roomID, msg, "/reactions"), "alice", "not json")
	a.refused(400, "M_NOT_JSON", "POST", roomPath(roomID, "/events"), "alice", "not json")
	a.refused(405, "M_UNRECOGNIZED", "GET", roomPath(roomID, "/events"), "alice", nil)
}
