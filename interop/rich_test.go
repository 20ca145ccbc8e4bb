package interop

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
)

// Rich messages (issue 12) against Dendrite: formatting, emotes,
// mentions, replies, threads, edits, deletions, reactions and custom
// event types, in room versions 10 and 12, each both ways. Each test has
// a room of its own: our alice's channel with a Dendrite bob joined
// (scenario 1, through the recording proxy). OursToDendrite: our user
// acts through the library, Dendrite's client-server API shows the
// result; DendriteToOurs: bob acts through Dendrite's client-server API,
// our Server.Message / Messages / Relations and hooks show the result.

const htmlFormat = "org.matrix.custom.html"

// richVersions runs fn in a room of its own per room version, as
// subtests v10 and v12.
func richVersions(t *testing.T, fn func(t *testing.T, r *room, version string)) {
	for _, v := range []string{"10", "12"} {
		t.Run("v"+v, func(t *testing.T) {
			r, _ := scenario1(t, v)
			fn(t, r, v)
		})
	}
}

// creator is the local name of our user who created the room (scenario 1).
const creator = "alice"

// member has our creator invite a second local user, who accepts; it
// returns the room as seen by that user (Dendrite's bob sees the join):
// a user of ours who is not a creator, whom our creator can promote.
func (r *room) member(t *testing.T, local string) *room {
	t.Helper()
	uid := r.o.userID(local)
	if err := r.o.srv.Invite(ctx(t), r.id, creator, uid); err != nil {
		t.Fatalf("our Invite of our %s: %v", uid, err)
	}
	if err := r.o.srv.AcceptInvite(ctx(t), r.id, local); err != nil {
		t.Fatalf("our AcceptInvite for %s: %v", uid, err)
	}
	if _, ok := r.remote.waitTimeline(r.id, isMembership(uid, "join")); !ok {
		t.Fatalf("Dendrite's /sync did not show %s's join within %s", uid, waitTimeout)
	}
	m := *r
	m.local = local
	return &m
}

// send has our user send rich content.
func (r *room) send(t *testing.T, m homeserver.MessageContent) string {
	t.Helper()
	id, err := r.o.srv.Send(ctx(t), r.id, r.local, m)
	if err != nil {
		t.Fatalf("our Send(%+v): %v", m, err)
	}
	return id
}

// remoteSend has the Dendrite user send an event.
func (r *room) remoteSend(t *testing.T, typ string, content any) string {
	t.Helper()
	id, err := r.remote.sendEvent(r.id, typ, content)
	if err != nil {
		t.Fatalf("Dendrite's %s could not send %s: %v", r.remote.UserID, typ, err)
	}
	return id
}

// seenByDendrite waits until the Dendrite user's /sync shows our event,
// and returns it as /sync showed it.
func (r *room) seenByDendrite(t *testing.T, eventID string) event {
	t.Helper()
	e, ok := r.remote.waitEventID(r.id, eventID)
	if !ok {
		t.Fatalf("our event %s did not reach Dendrite's /sync within %s (%s)", eventID, waitTimeout, r.remote.sync.status())
	}
	return e.V.Event
}

// ourMessage waits until Server.Message shows eventID matching cond and
// returns it; it fails the test with the last answer otherwise.
func (r *room) ourMessage(t *testing.T, eventID, what string, cond func(homeserver.Message) bool) homeserver.Message {
	t.Helper()
	var m homeserver.Message
	var err error
	if !eventually(func() bool {
		m, err = r.o.srv.Message(ctx(t), r.id, eventID)
		return err == nil && cond(m)
	}) {
		t.Fatalf("our Message(%s) never showed %s within %s: last %+v, %v", eventID, what, waitTimeout, m, err)
	}
	return m
}

// ourHookMessage waits for Hooks.OnMessage to report eventID.
func (r *room) ourHookMessage(t *testing.T, eventID string) homeserver.Message {
	t.Helper()
	m, ok := r.o.messages.wait(waitTimeout, func(m homeserver.Message) bool { return m.EventID == eventID })
	if !ok {
		t.Fatalf("our Hooks.OnMessage did not report %s within %s", eventID, waitTimeout)
	}
	return m.V
}

// barrier sends a plain message from the Dendrite user and waits for our
// OnMessage: hooks run in order, so whatever the host was to be told of
// before it has been told.
func (r *room) barrier(t *testing.T) {
	t.Helper()
	r.dendriteToOur(t, "barrier "+randomString(6))
}

// noStrayMessage checks that the host was never told of eventID (an
// edit, a reaction...) as a message of its own.
func (r *room) noStrayMessage(t *testing.T, eventID, what string) {
	t.Helper()
	r.barrier(t)
	for _, m := range r.o.messages.all() {
		if m.V.EventID == eventID {
			t.Errorf("our Hooks.OnMessage reported the %s %s as a message of its own: %+v", what, eventID, m.V)
		}
	}
	msgs, err := r.o.srv.Messages(ctx(t), r.id, 0, 200)
	if err != nil {
		t.Fatalf("our Messages: %v", err)
	}
	for _, m := range msgs {
		if m.EventID == eventID {
			t.Errorf("our Messages() lists the %s %s as a message of its own: %+v", what, eventID, m)
		}
	}
}

// TestRich01_FormattedAndEmote: HTML (org.matrix.custom.html) with
// mentions, and m.emote. Ours to Dendrite: the content arrives as sent.
// Dendrite to ours: Format, the sanitised FormattedBody (no script, no
// event handler, no javascript: link), Mentions and MsgType, through
// OnMessage and Message.
func TestRich01_FormattedAndEmote(t *testing.T) {
	richVersions(t, func(t *testing.T, r *room, _ string) {
		alice, bob := r.o.userID(r.local), r.remote.UserID
		t.Run("OursToDendrite", func(t *testing.T) {
			html := `<p>hello <strong>bob</strong> <a href="https://matrix.org">link</a></p>`
			id := r.send(t, homeserver.MessageContent{Body: "hello bob link", FormattedBody: html, Mentions: []string{bob}})
			c := contentMap(r.seenByDendrite(t, id).Content)
			if got := pathStr(c, "msgtype"); got != "m.text" {
				t.Errorf("Dendrite shows msgtype %q, want m.text: %v", got, c)
			}
			if pathStr(c, "body") != "hello bob link" || pathStr(c, "format") != htmlFormat || pathStr(c, "formatted_body") != html {
				t.Errorf("Dendrite shows body %q format %q formatted_body %q; want them as sent", pathStr(c, "body"), pathStr(c, "format"), pathStr(c, "formatted_body"))
			}
			if ids, _ := path(c, "m.mentions", "user_ids").([]any); !slices.Contains(ids, any(bob)) {
				t.Errorf("Dendrite shows m.mentions %v, want user_ids with %s", path(c, "m.mentions"), bob)
			}
			emote := r.send(t, homeserver.MessageContent{MsgType: "m.emote", Body: "waves at Dendrite"})
			c = contentMap(r.seenByDendrite(t, emote).Content)
			if pathStr(c, "msgtype") != "m.emote" || pathStr(c, "body") != "waves at Dendrite" {
				t.Errorf("Dendrite shows our emote as %v", c)
			}
		})
		t.Run("DendriteToOurs", func(t *testing.T) {
			hostile := `<b>bold</b> <script>alert(1)</script><a href="javascript:alert(2)" onclick="steal()">x</a> <i>it</i>`
			id := r.remoteSend(t, "m.room.message", map[string]any{
				"msgtype": "m.text", "body": "bold x it", "format": htmlFormat, "formatted_body": hostile,
				"m.mentions": map[string]any{"user_ids": []string{alice}},
			})
			hook := r.ourHookMessage(t, id)
			got := r.ourMessage(t, id, "the formatted message", func(homeserver.Message) bool { return true })
			for name, m := range map[string]homeserver.Message{"OnMessage": hook, "Message()": got} {
				if m.Body != "bold x it" || m.MsgType != "m.text" || m.Format != htmlFormat || m.Sender != bob {
					t.Errorf("%s: %+v; want body, m.text, %s, from %s", name, m, htmlFormat, bob)
				}
				if !strings.Contains(m.FormattedBody, "<b>bold</b>") || !strings.Contains(m.FormattedBody, "<i>it</i>") {
					t.Errorf("%s: FormattedBody %q lost the allowed tags", name, m.FormattedBody)
				}
				for _, bad := range []string{"<script", "alert(1)", "javascript:", "onclick"} {
					if strings.Contains(m.FormattedBody, bad) {
						t.Errorf("%s: FormattedBody %q still has %q (not sanitised)", name, m.FormattedBody, bad)
					}
				}
				if !slices.Contains(m.Mentions, alice) {
					t.Errorf("%s: Mentions %v, want %s", name, m.Mentions, alice)
				}
			}
			emote := r.remoteSend(t, "m.room.message", map[string]any{"msgtype": "m.emote", "body": "waves back"})
			if m := r.ourHookMessage(t, emote); m.MsgType != "m.emote" || m.Body != "waves back" {
				t.Errorf("OnMessage shows Dendrite's emote as %+v", m)
			}
		})
	})
}

// TestRich02_Reply: m.relates_to.m.in_reply_to both ways: Dendrite's
// event content names the replied-to event; our Message.ReplyTo does.
func TestRich02_Reply(t *testing.T) {
	richVersions(t, func(t *testing.T, r *room, _ string) {
		t.Run("OursToDendrite", func(t *testing.T) {
			target := r.remoteSend(t, "m.room.message", map[string]any{"msgtype": "m.text", "body": "question?"})
			r.ourHookMessage(t, target)
			id := r.send(t, homeserver.MessageContent{Body: "answer", ReplyTo: target})
			c := contentMap(r.seenByDendrite(t, id).Content)
			if got := pathStr(c, "m.relates_to", "m.in_reply_to", "event_id"); got != target {
				t.Errorf("Dendrite shows m.in_reply_to %q, want %s: %v", got, target, c)
			}
			if got := pathStr(c, "m.relates_to", "rel_type"); got != "" {
				t.Errorf("a plain reply has rel_type %q on Dendrite, want none", got)
			}
		})
		t.Run("DendriteToOurs", func(t *testing.T) {
			target := r.send(t, homeserver.MessageContent{Body: "question from us?"})
			r.seenByDendrite(t, target)
			id := r.remoteSend(t, "m.room.message", map[string]any{
				"msgtype": "m.text", "body": "answer from Dendrite",
				"m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": target}},
			})
			if m := r.ourHookMessage(t, id); m.ReplyTo != target || m.Body != "answer from Dendrite" {
				t.Errorf("OnMessage: ReplyTo %q body %q, want %s", m.ReplyTo, m.Body, target)
			}
			if m := r.ourMessage(t, id, "the reply", func(homeserver.Message) bool { return true }); m.ReplyTo != target || m.ThreadRoot != "" {
				t.Errorf("Message(): ReplyTo %q ThreadRoot %q, want %s and none", m.ReplyTo, m.ThreadRoot, target)
			}
		})
	})
}

// TestRich03_ThreadReply: rel_type m.thread with is_falling_back and the
// fallback m.in_reply_to. Ours: Dendrite's content and its
// /relations/{root}/m.thread. Dendrite's: our ThreadRoot (the fallback
// reply is no ReplyTo) and Relations(root).Thread.
func TestRich03_ThreadReply(t *testing.T) {
	richVersions(t, func(t *testing.T, r *room, _ string) {
		t.Run("OursToDendrite", func(t *testing.T) {
			root := r.remoteSend(t, "m.room.message", map[string]any{"msgtype": "m.text", "body": "thread root"})
			r.ourHookMessage(t, root)
			id := r.send(t, homeserver.MessageContent{Body: "in the thread", ThreadRoot: root})
			c := contentMap(r.seenByDendrite(t, id).Content)
			rel := contentMap(mustJSON(path(c, "m.relates_to")))
			if pathStr(rel, "rel_type") != "m.thread" || pathStr(rel, "event_id") != root {
				t.Errorf("Dendrite shows m.relates_to %v, want rel_type m.thread, event_id %s", rel, root)
			}
			if fb, _ := path(rel, "is_falling_back").(bool); !fb {
				t.Errorf("Dendrite shows is_falling_back %v, want true: %v", path(rel, "is_falling_back"), rel)
			}
			if pathStr(rel, "m.in_reply_to", "event_id") == "" {
				t.Errorf("Dendrite shows no fallback m.in_reply_to: %v", rel)
			}
			chunk, err, ok := eventuallyDendrite(func() ([]fullEvent, error) { return r.remote.relations(r.id, root, "m.thread") },
				func(evs []fullEvent) bool { return hasEventID(evs, id) })
			if !ok {
				t.Errorf("Dendrite's /relations/%s/m.thread never listed %s: %v, %v", root, id, chunk, err)
			}
		})
		t.Run("DendriteToOurs", func(t *testing.T) {
			root := r.send(t, homeserver.MessageContent{Body: "our thread root"})
			r.seenByDendrite(t, root)
			id := r.remoteSend(t, "m.room.message", map[string]any{
				"msgtype": "m.text", "body": "Dendrite in our thread",
				"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root, "is_falling_back": true,
					"m.in_reply_to": map[string]any{"event_id": root}},
			})
			m := r.ourHookMessage(t, id)
			if m.ThreadRoot != root || m.Body != "Dendrite in our thread" {
				t.Errorf("OnMessage: ThreadRoot %q body %q, want %s", m.ThreadRoot, m.Body, root)
			}
			if m.ReplyTo != "" {
				t.Errorf("OnMessage: ReplyTo %q: a thread's fallback reply (is_falling_back) is no reply", m.ReplyTo)
			}
			var rels homeserver.Relations
			var err error
			if !eventually(func() bool {
				rels, err = r.o.srv.Relations(ctx(t), r.id, root)
				return err == nil && slices.Contains(rels.Thread, id)
			}) {
				t.Errorf("our Relations(%s).Thread = %v, %v; want %s in it", root, rels.Thread, err, id)
			}
		})
	})
}

// TestRich04_Edit: m.replace with m.new_content and the "* " fallback.
// Ours: Dendrite's /relations/{id}/m.replace lists the edit with its new
// content and Dendrite's /event keeps the original; our Message shows the
// edit. Dendrite's: OnEdit, Message (Edited, Body, EditID), Relations'
// Edits, and no stray message for the edit; our user may not edit
// Dendrite's message, nor edit an edit.
func TestRich04_Edit(t *testing.T) {
	richVersions(t, func(t *testing.T, r *room, _ string) {
		t.Run("OursToDendrite", func(t *testing.T) {
			orig := r.send(t, homeserver.MessageContent{Body: "first draft"})
			r.seenByDendrite(t, orig)
			edit, err := r.o.srv.Edit(ctx(t), r.id, r.local, orig, homeserver.MessageContent{Body: "final text", FormattedBody: "<em>final</em> text"})
			if err != nil {
				t.Fatalf("our Edit: %v", err)
			}
			c := contentMap(r.seenByDendrite(t, edit).Content)
			if pathStr(c, "body") != "* final text" || pathStr(c, "m.new_content", "body") != "final text" ||
				pathStr(c, "m.new_content", "formatted_body") != "<em>final</em> text" ||
				pathStr(c, "m.relates_to", "rel_type") != "m.replace" || pathStr(c, "m.relates_to", "event_id") != orig {
				t.Errorf("Dendrite shows our edit as %v", c)
			}
			chunk, err, ok := eventuallyDendrite(func() ([]fullEvent, error) { return r.remote.relations(r.id, orig, "m.replace") },
				func(evs []fullEvent) bool { return hasEventID(evs, edit) })
			if !ok {
				t.Errorf("Dendrite's /relations/%s/m.replace never listed the edit %s: %v, %v", orig, edit, chunk, err)
			}
			if e, err := r.remote.getEvent(r.id, orig); err != nil || e.str("body") != "first draft" {
				t.Errorf("Dendrite's /event/%s: %v, %v; want the original body kept", orig, e, err)
			} else {
				t.Logf("Dendrite's /event of the edited message: unsigned %s", e.Unsigned)
			}
			m := r.ourMessage(t, orig, "the edit", func(m homeserver.Message) bool { return m.Edited })
			if m.Body != "final text" || m.EditID != edit || m.EditedAt.IsZero() {
				t.Errorf("our Message after Edit: %+v; want Body final text, EditID %s", m, edit)
			}
			if _, err := r.o.srv.Edit(ctx(t), r.id, r.local, edit, homeserver.MessageContent{Body: "edit of an edit"}); !errors.Is(err, homeserver.ErrInvalidEdit) {
				t.Errorf("our Edit of an edit: %v, want ErrInvalidEdit", err)
			}
		})
		t.Run("DendriteToOurs", func(t *testing.T) {
			bob := r.remote.UserID
			orig := r.remoteSend(t, "m.room.message", map[string]any{"msgtype": "m.text", "body": "tpyo"})
			r.ourHookMessage(t, orig)
			edit := r.remoteSend(t, "m.room.message", map[string]any{
				"msgtype": "m.text", "body": "* typo",
				"m.new_content": map[string]any{"msgtype": "m.text", "body": "typo"},
				"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": orig},
			})
			e, ok := r.o.edits.wait(waitTimeout, func(e homeserver.Edit) bool { return e.EventID == edit })
			if !ok {
				t.Fatalf("our Hooks.OnEdit did not report Dendrite's edit %s within %s", edit, waitTimeout)
			}
			if e.V.Target != orig || e.V.Sender != bob || e.V.Body != "typo" || e.V.RoomID != r.id {
				t.Errorf("OnEdit = %+v; want Target %s, Sender %s, Body typo", e.V, orig, bob)
			}
			m := r.ourMessage(t, orig, "the edit", func(m homeserver.Message) bool { return m.Edited })
			if m.Body != "typo" || m.EditID != edit || m.Sender != bob {
				t.Errorf("our Message after Dendrite's edit: %+v; want Body typo, EditID %s", m, edit)
			}
			rels, err := r.o.srv.Relations(ctx(t), r.id, orig)
			if err != nil || len(rels.Edits) != 1 || rels.Edits[0].EventID != edit {
				t.Errorf("our Relations(%s): %+v, %v; want the one edit %s", orig, rels, err, edit)
			}
			r.noStrayMessage(t, edit, "edit")
			_, err = r.o.srv.Edit(ctx(t), r.id, r.local, orig, homeserver.MessageContent{Body: "not mine"})
			if !errors.Is(err, homeserver.ErrForbidden) {
				t.Errorf("our Edit of Dendrite's message: %v, want ErrForbidden", err)
			}
		})
	})
}

// TestRich08_CustomEvents: SendEvent of a custom message-like event and a
// custom state event reaches Dendrite's /sync and /state; the types with
// their own lifecycle are refused; Dendrite's custom event and sticker
// reach our Hooks.OnEvent with type, state key and raw content.
func TestRich08_CustomEvents(t *testing.T) {
	richVersions(t, func(t *testing.T, r *room, _ string) {
		t.Run("OursToDendrite", func(t *testing.T) {
			id, err := r.o.srv.SendEvent(ctx(t), r.id, r.local, "org.embedmatrix.test.ping", nil, json.RawMessage(`{"n":42,"what":"custom"}`))
			if err != nil {
				t.Fatalf("our SendEvent (custom): %v", err)
			}
			e := r.seenByDendrite(t, id)
			if c := contentMap(e.Content); e.Type != "org.embedmatrix.test.ping" || c["n"] != float64(42) || c["what"] != "custom" {
				t.Errorf("Dendrite shows our custom event as %v", e)
			}
			sk := "widget-1"
			sid, err := r.o.srv.SendEvent(ctx(t), r.id, r.local, "org.embedmatrix.test.state", &sk, json.RawMessage(`{"colour":"green"}`))
			if err != nil {
				t.Fatalf("our SendEvent (custom state): %v", err)
			}
			r.seenByDendrite(t, sid)
			raw, err := r.remote.stateContent(r.id, "org.embedmatrix.test.state", sk)
			if err != nil || contentMap(raw)["colour"] != "green" {
				t.Errorf("Dendrite's /state/org.embedmatrix.test.state/%s: %s, %v; want colour green", sk, raw, err)
			}
			for name, typ := range map[string]string{"create": "m.room.create", "member": "m.room.member", "encryption": "m.room.encryption", "encrypted": "m.room.encrypted"} {
				if _, err := r.o.srv.SendEvent(ctx(t), r.id, r.local, typ, nil, json.RawMessage(`{}`)); !errors.Is(err, homeserver.ErrEventTypeNotAllowed) {
					t.Errorf("SendEvent %s (%s): %v, want ErrEventTypeNotAllowed", typ, name, err)
				}
			}
		})
		t.Run("DendriteToOurs", func(t *testing.T) {
			id := r.remoteSend(t, "org.embedmatrix.test.pong", map[string]any{"from": "dendrite", "list": []int{1, 2}})
			e, ok := r.o.events.wait(waitTimeout, func(e homeserver.Event) bool { return e.EventID == id })
			if !ok {
				t.Fatalf("our Hooks.OnEvent did not report Dendrite's custom event %s within %s", id, waitTimeout)
			}
			c := contentMap(e.V.Content)
			if e.V.Type != "org.embedmatrix.test.pong" || e.V.StateKey != nil || e.V.Sender != r.remote.UserID || c["from"] != "dendrite" || e.V.RoomID != r.id {
				t.Errorf("OnEvent = %+v (content %s); want the custom type, no state key, from %s", e.V, e.V.Content, r.remote.UserID)
			}
			sticker := r.remoteSend(t, "m.sticker", map[string]any{"body": "a cat", "url": "mxc://" + r.d.name + "/cat", "info": map[string]any{"w": 64, "h": 64}})
			if e, ok := r.o.events.wait(waitTimeout, func(e homeserver.Event) bool { return e.EventID == sticker }); !ok || e.V.Type != "m.sticker" {
				t.Errorf("OnEvent for Dendrite's sticker: %+v, %v", e.V, ok)
			}
			r.noStrayMessage(t, id, "custom event")
		})
	})
}

// hasEventID says whether evs holds an event with that ID.
func hasEventID(evs []fullEvent, id string) bool {
	return slices.ContainsFunc(evs, func(e fullEvent) bool { return e.EventID == id })
}

// mustJSON re-encodes a decoded value (for sub-objects of a content).
func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// waitShort polls cond for up to d (for what Dendrite is known not to do,
// so a test does not wait the full waitTimeout to report it).
func waitShort(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
