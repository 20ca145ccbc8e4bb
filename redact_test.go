package homeserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// Deletions: the redaction algorithm as the spec says, between real
// servers.

// redacted waits until p stores eventID redacted by redaction, and checks
// the stored form: no body left, unsigned.redacted_because, hashes and
// signatures kept. An empty redaction means any.
func redacted(t *testing.T, p *peer, eventID, redaction string) storage.Event {
	t.Helper()
	var ev storage.Event
	eventually(t, p.name+" redacts "+eventID, 10*time.Second, func() error {
		var err error
		if ev, err = p.srv.store.Event(context.Background(), eventID); err != nil {
			return err
		}
		if ev.RedactedBy == "" || redaction != "" && ev.RedactedBy != redaction {
			return errors.New("not redacted yet: " + ev.RedactedBy)
		}
		return nil
	})
	j := gjson.ParseBytes(ev.JSON)
	if j.Get("content.body").Exists() || j.Get("content.msgtype").Exists() {
		t.Fatalf("%s: content left after redaction: %s", p.name, ev.JSON)
	}
	if !j.Get("hashes.sha256").Exists() || !j.Get("signatures").Exists() {
		t.Fatalf("%s: hashes or signatures dropped: %s", p.name, ev.JSON)
	}
	if j.Get("unsigned.redacted_because.type").Str != "m.room.redaction" {
		t.Fatalf("%s: no unsigned.redacted_because: %s", p.name, ev.JSON)
	}
	return ev
}

func TestRedactOwnMessage(t *testing.T) {
	for _, version := range []string{"10", "11", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			a, b, c := threePeers(t)
			ctx := context.Background()
			roomID := sharedRoom(t, a, b, version)
			msg := say(t, a, b, roomID, "alice", "a secret")
			red, err := a.srv.Redact(ctx, roomID, "alice", msg, "oops")
			if err != nil {
				t.Fatal(err)
			}
			r := expect(t, "redaction on b", b.redactions, func(r Redaction) bool { return r.EventID == red })
			if r.Target != msg || r.Reason != "oops" || r.Sender != a.userID("alice") || r.TargetType != "m.room.message" {
				t.Fatalf("redaction hook: %+v", r)
			}
			for _, p := range []*peer{a, b} {
				redacted(t, p, msg, red)
				m, err := p.srv.Message(ctx, roomID, msg)
				if err != nil || !m.Deleted || m.Body != "" || m.MsgType != "" {
					t.Fatalf("%s: deleted message reads %+v %v", p.name, m, err)
				}
			}

			// What we serve from now on is the redacted form, and it
			// still verifies: /event, then a server joining later.
			code, body := craft(t, signerOf(b), a, spec.ServerName(a.name), "GET",
				"/_matrix/federation/v1/event/"+url.PathEscape(msg), nil, nil)
			if code != 200 {
				t.Fatalf("/event: %d %v", code, body)
			}
			pdus := body["pdus"].([]any)
			served, _ := json.Marshal(pdus[0])
			if strings.Contains(string(served), "a secret") {
				t.Fatalf("/event serves the deleted text: %s", served)
			}
			rv := gomatrixserverlib.MustGetRoomVersion(gomatrixserverlib.RoomVersion(version))
			pdu, err := rv.NewEventFromUntrustedJSON(served)
			if err != nil || pdu.EventID() != msg {
				t.Fatalf("the served redacted event does not parse as %s: %v", msg, err)
			}
			if err := gomatrixserverlib.VerifyEventSignatures(ctx, pdu, a.srv.keyring, func(_ spec.RoomID, s spec.SenderID) (*spec.UserID, error) {
				return spec.NewUserID(string(s), true)
			}); err != nil {
				t.Fatalf("the served redacted event's signatures: %v", err)
			}

			if err := a.srv.Invite(ctx, roomID, "alice", c.userID("carol")); err != nil {
				t.Fatal(err)
			}
			waitInvite(t, c.invites, roomID)
			if err := c.srv.AcceptInvite(ctx, roomID, "carol"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.srv.Backfill(ctx, roomID, 100); err != nil {
				t.Fatal(err)
			}
			ev, err := c.srv.store.Event(ctx, msg)
			if err != nil {
				t.Fatalf("the server that joined later has not the deleted message: %v", err)
			}
			if ev.Status != storage.StatusAccepted || strings.Contains(string(ev.JSON), "a secret") {
				t.Fatalf("on the later server: status %v, %s", ev.Status, ev.JSON)
			}
		})
	}
}

func TestModeratorRedacts(t *testing.T) {
	for _, version := range []string{"10", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			a, b := twoPeers(t)
			ctx := context.Background()
			roomID := sharedRoom(t, a, b, version)
			msg := say(t, a, b, roomID, "alice", "moderate me")
			if _, err := b.srv.Redact(ctx, roomID, "bob", msg, ""); !errors.Is(err, ErrForbidden) {
				t.Fatalf("a user redacts another's message without the power: %v", err)
			}
			if err := a.srv.SetRole(ctx, roomID, "alice", b.userID("bob"), "moderator"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "bob is a moderator on b", 10*time.Second, func() error {
				if r, err := b.srv.Role(ctx, roomID, b.userID("bob")); err != nil || r != "moderator" {
					return errors.New("not yet: " + r)
				}
				return nil
			})
			red, err := b.srv.Redact(ctx, roomID, "bob", msg, "off topic")
			if err != nil {
				t.Fatal(err)
			}
			// Our server signs the redaction, for our user.
			ev, _ := b.srv.store.Event(ctx, red)
			if gjson.GetBytes(ev.JSON, "sender").Str != b.userID("bob") || !gjson.GetBytes(ev.JSON, "signatures."+gjsonKey(b.name)).Exists() {
				t.Fatalf("redaction not signed by bob's server for bob: %s", ev.JSON)
			}
			expect(t, "redaction on a", a.redactions, func(r Redaction) bool { return r.EventID == red && r.Reason == "off topic" })
			redacted(t, a, msg, red)
			redacted(t, b, msg, red)
		})
	}
}

func gjsonKey(s string) string { return strings.ReplaceAll(s, ".", `\.`) }

// A user of a third server without power redacts alice's message: stored,
// nothing applied, nothing reported.
func TestRedactionWithoutPowerNotApplied(t *testing.T) {
	a, b, c, roomID := threeServers(t, "10")
	ctx := context.Background()
	msg := say(t, a, b, roomID, "alice", "keep me")
	waitMessage(t, c.messages, "keep me")
	// carol's server sends it anyway (its host bypassed the check).
	red, err := c.srv.rooms.Send(ctx, roomID, c.userID("carol"), spec.MRoomRedaction, nil, map[string]any{"redacts": msg})
	if err != nil {
		t.Fatal(err)
	}
	say(t, c, a, roomID, "carol", "after")
	waitMessage(t, b.messages, "after")
	for _, p := range []*peer{a, b} {
		if !stored(t, p, red.EventID()) {
			t.Fatalf("%s: the redaction is not stored", p.name)
		}
		m, err := p.srv.Message(ctx, roomID, msg)
		if err != nil || m.Deleted || m.Body != "keep me" {
			t.Fatalf("%s: %+v %v", p.name, m, err)
		}
	}
	nothingOn(t, "a redaction reported", a.redactions, 200*time.Millisecond)
	// carol may redact her own message, though.
	own := say(t, c, a, roomID, "carol", "mine")
	if _, err := c.srv.Redact(ctx, roomID, "carol", own, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, "carol's own redaction on a", a.redactions, func(r Redaction) bool { return r.Target == own })
}

// A redaction that arrives before its target is kept and applied when the
// target arrives.
func TestRedactionBeforeTarget(t *testing.T) {
	for _, version := range []string{"10", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			a, b := twoPeers(t)
			ctx := context.Background()
			roomID := sharedRoom(t, a, b, version)
			say(t, b, a, roomID, "bob", "before")
			target, err := b.srv.rooms.BuildEvent(ctx, roomID, b.userID("bob"), "m.room.message", nil,
				map[string]any{"msgtype": "m.text", "body": "late and secret"})
			if err != nil {
				t.Fatal(err)
			}
			red, err := b.srv.rooms.BuildEvent(ctx, roomID, b.userID("bob"), spec.MRoomRedaction, nil,
				map[string]any{"redacts": target.EventID()})
			if err != nil {
				t.Fatal(err)
			}
			if code, body := craft(t, signerOf(b), a, spec.ServerName(a.name), "PUT", "/_matrix/federation/v1/send/r1", txn(red), nil); code != 200 {
				t.Fatalf("send the redaction: %d %v", code, body)
			}
			if !stored(t, a, red.EventID()) || stored(t, a, target.EventID()) {
				t.Fatal("the redaction should be stored, its target not yet")
			}
			if code, body := craft(t, signerOf(b), a, spec.ServerName(a.name), "PUT", "/_matrix/federation/v1/send/r2", txn(target), nil); code != 200 {
				t.Fatalf("send the target: %d %v", code, body)
			}
			ev := redacted(t, a, target.EventID(), red.EventID())
			if ev.Status != storage.StatusAccepted {
				t.Fatalf("target status %v", ev.Status)
			}
			nothingOn(t, "the deleted message reported", a.messages, 200*time.Millisecond)
			m, err := a.srv.Message(ctx, roomID, target.EventID())
			if err != nil || !m.Deleted {
				t.Fatalf("%+v %v", m, err)
			}
		})
	}
}

// A redaction naming an event of another room applies to nothing.
func TestRedactionOfAnotherRoomsEvent(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	room1 := sharedRoom(t, a, b, "10")
	room2 := sharedRoom(t, a, b, "10")
	msg := say(t, a, b, room2, "alice", "in room two")
	if _, err := a.srv.Redact(ctx, room1, "alice", msg, ""); !errors.Is(err, ErrUnknownEvent) {
		t.Fatalf("Redact of another room's event: %v", err)
	}
	red, err := a.srv.rooms.Send(ctx, room1, a.userID("alice"), spec.MRoomRedaction, nil, map[string]any{"redacts": msg})
	if err != nil {
		t.Fatal(err)
	}
	say(t, a, b, room1, "alice", "after")
	for _, p := range []*peer{a, b} {
		if !stored(t, p, red.EventID()) {
			t.Fatalf("%s: redaction not stored", p.name)
		}
		if m, err := p.srv.Message(ctx, room2, msg); err != nil || m.Deleted {
			t.Fatalf("%s: %+v %v", p.name, m, err)
		}
	}
}

// Redacting an edit drops it from the aggregation; redacting the current
// name clears it for the host; redacting a state event keeps what the
// auth rules need.
func TestRedactEditsAndState(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	msg := say(t, a, b, roomID, "alice", "first")
	edit, err := a.srv.Edit(ctx, roomID, "alice", msg, MessageContent{Body: "second"})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "edit on b", b.edited, func(e Edit) bool { return e.EventID == edit })
	red, err := a.srv.Redact(ctx, roomID, "alice", edit, "")
	if err != nil {
		t.Fatal(err)
	}
	r := expect(t, "redaction of the edit on b", b.redactions, func(r Redaction) bool { return r.EventID == red })
	if r.Target != edit {
		t.Fatalf("%+v", r)
	}
	for _, p := range []*peer{a, b} {
		if m, err := p.srv.Message(ctx, roomID, msg); err != nil || m.Edited || m.Body != "first" {
			t.Fatalf("%s: after the edit's redaction: %+v %v", p.name, m, err)
		}
	}

	if err := a.srv.SetRoomName(ctx, roomID, "alice", "Secret name"); err != nil {
		t.Fatal(err)
	}
	n := expect(t, "name on b", b.names, func(c RoomChange) bool { return c.Value == "Secret name" })
	if _, err := a.srv.Redact(ctx, roomID, "alice", n.EventID, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, "name cleared on b", b.names, func(c RoomChange) bool { return c.Value == "" })
	sum, err := b.srv.Room(ctx, roomID)
	if err != nil || sum.Name != "" {
		t.Fatalf("summary after the name's redaction: %q %v", sum.Name, err)
	}

	// The power levels redacted keep the levels: bob still cannot kick.
	pl, err := a.srv.store.StateEvent(ctx, roomID, spec.MRoomPowerLevels, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.srv.Redact(ctx, roomID, "alice", pl.EventID, ""); err != nil {
		t.Fatal(err)
	}
	ev := redacted(t, b, pl.EventID, "")
	if !gjson.GetBytes(ev.JSON, "content.users").Exists() {
		t.Fatalf("redacted power levels lost users: %s", ev.JSON)
	}
	if err := b.srv.Kick(ctx, roomID, "bob", a.userID("alice"), ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("bob kicks after the levels' redaction: %v", err)
	}
	say(t, a, b, roomID, "alice", "the room still works")
}
