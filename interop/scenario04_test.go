package interop

import (
	"fmt"
	"slices"
	"testing"
	"time"

	homeserver "github.com/embedmatrix/homeserver"
)

// pendingMessages is how many messages each scenario 4 run sends while
// the invite is pending.
const pendingMessages = 5

// TestScenario04_MessagesWhileInvitePending: our alice invites a Dendrite
// user and sends messages while the invite is pending; after the Dendrite
// user joins, GET /messages (paging back from the end) returns every one
// of them, once, in order. The reverse direction: a Dendrite user invites
// our carol and sends messages before she accepts; AcceptInvite fetches
// them and our host gets them through Hooks.OnMessage, marked Backfilled,
// and Messages() holds them. That direction is skipped for v12: Dendrite
// v0.15.2's /backfill refuses v12 room IDs.
func TestScenario04_MessagesWhileInvitePending(t *testing.T) {
	for _, v := range []string{"10", "12"} {
		t.Run("v"+v, func(t *testing.T) {
			t.Run("OursToDendrite", func(t *testing.T) { scenario4Ours(t, v) })
			t.Run("DendriteToOurs", func(t *testing.T) { scenario4Dendrite(t, v) })
		})
	}
}

func scenario4Ours(t *testing.T, version string) {
	e := newEnv(t)
	bob := e.d.register(t, "bob", false)
	r := e.ourChannel(t, version, false)
	r.remote = bob
	r.inviteRemote(t, bob, nil)
	c := ctx(t)
	var bodies, ids []string
	for i := range pendingMessages {
		body := fmt.Sprintf("while pending %d %s", i, randomString(4))
		id, err := e.o.srv.SendMessage(c, r.id, "alice", body)
		if err != nil {
			t.Fatalf("our SendMessage while the invite is pending: %v", err)
		}
		bodies, ids = append(bodies, body), append(ids, id)
	}
	r.remoteJoins(t, bob)

	var got []event
	calls, joined := 0, time.Now()
	if !eventually(func() bool {
		calls++
		evs, err := bob.messages(r.id, 100)
		if err != nil {
			t.Logf("Dendrite /messages: %v", err)
			return false
		}
		got = evs
		n := 0
		for _, e := range evs {
			if e.Type == "m.room.message" && slices.Contains(ids, e.EventID) {
				n++
			}
		}
		return n >= len(ids)
	}) {
		t.Errorf("Dendrite's /messages for %s after joining lacks some of the %d messages sent while the invite was pending: %v", bob.UserID, len(ids), got)
	}
	t.Logf("Dendrite's /messages held all %d pending-invite messages after %d call(s), %s after the join was seen", len(ids), calls, ms(time.Since(joined)))
	// /messages pages backwards (dir=b): newest first.
	var seen []string
	for _, e := range got {
		if e.Type == "m.room.message" && slices.Contains(ids, e.EventID) {
			seen = append(seen, e.str("body"))
			if e.Sender != r.o.userID("alice") {
				t.Errorf("Dendrite's /messages shows %s from %s, want %s", e.EventID, e.Sender, r.o.userID("alice"))
			}
		}
	}
	slices.Reverse(seen)
	if !slices.Equal(seen, bodies) {
		t.Errorf("Dendrite's /messages shows the pending-invite messages as %q (oldest first), want %q", seen, bodies)
	}
	// And the room still works both ways.
	r.messagesBothWays(t)
}

func scenario4Dendrite(t *testing.T, version string) {
	// In v12 Dendrite 0.15.2 refuses /backfill for room IDs without a
	// server part (400 M_MISSING_PARAM "Bad room ID"); the library then
	// asks /get_missing_events for the same history.
	d := sharedDendrite(t)
	o := startOurs(t)
	dave := d.register(t, "dave", false)
	carol := o.userID("carol")
	roomID, err := dave.createRoom(map[string]any{"preset": "private_chat", "name": "pending " + randomString(4), "room_version": version})
	if err != nil {
		t.Fatalf("Dendrite createRoom: %v", err)
	}
	if err := dave.invite(roomID, carol); err != nil {
		t.Fatalf("Dendrite invite of %s: %v", carol, err)
	}
	if _, ok := o.waitInvite(roomID); !ok {
		t.Fatalf("our OnInvite did not report the invite to %s", roomID)
	}
	var bodies, ids []string
	for i := range pendingMessages {
		body := fmt.Sprintf("dendrite while pending %d %s", i, randomString(4))
		id, err := dave.sendText(roomID, body)
		if err != nil {
			t.Fatalf("Dendrite send: %v", err)
		}
		bodies, ids = append(bodies, body), append(ids, id)
	}
	// Nothing should reach us before we join.
	time.Sleep(200 * time.Millisecond)
	for _, m := range o.messages.all() {
		if m.V.RoomID == roomID {
			t.Errorf("our OnMessage got %q before carol accepted the invite", m.V.Body)
		}
	}
	if err := o.srv.AcceptInvite(ctx(t), roomID, "carol"); err != nil {
		t.Fatalf("our AcceptInvite: %v", err)
	}
	var got []homeserver.Message
	deadline := time.Now().Add(waitTimeout)
	for _, id := range ids {
		m, ok := o.messages.wait(max(time.Until(deadline), 0), func(m homeserver.Message) bool { return m.EventID == id })
		if !ok {
			t.Errorf("our OnMessage never reported %s, sent while carol's invite was pending", id)
			continue
		}
		if !m.V.Backfilled {
			t.Errorf("OnMessage reported %s with Backfilled false; it was sent before the join", id)
		}
		got = append(got, m.V)
	}
	n := map[string]int{}
	for _, m := range o.messages.all() {
		if m.V.RoomID == roomID {
			n[m.V.EventID]++
		}
	}
	for _, id := range ids {
		if n[id] != 1 {
			t.Errorf("our OnMessage reported %s %d times, want once", id, n[id])
		}
	}
	var order []string
	for _, m := range got {
		order = append(order, m.Body)
	}
	if !slices.Equal(order, bodies) {
		t.Errorf("our OnMessage reported the backfilled messages as %q, want %q", order, bodies)
	}
	msgs, err := o.srv.Messages(ctx(t), roomID, 0, 100)
	if err != nil {
		t.Fatalf("our Messages: %v", err)
	}
	var stored []string
	for _, m := range msgs {
		if slices.Contains(ids, m.EventID) {
			stored = append(stored, m.Body)
		}
	}
	t.Logf("our Messages() after AcceptInvite holds %d of the %d messages sent while the invite was pending", len(stored), len(ids))
	if !slices.Equal(stored, bodies) {
		t.Errorf("our Messages() holds the pending-invite messages as %q, want %q", stored, bodies)
	}
}
