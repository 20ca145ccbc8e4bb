package main

import (
	"fmt"
	"slices"
	"testing"
)

// Read receipts cross servers: who has read each message, and when.
func TestReadReceipts(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	first := a.send("alice", roomID, "one")
	second := a.send("alice", roomID, "two")
	eventually(t, "bob gets both", func() error {
		if n := len(b.messages("bob", roomID)); n != 2 {
			return fmt.Errorf("%d", n)
		}
		return nil
	})
	b.must(200, "POST", roomPath(roomID, "/read"), "bob", map[string]string{"event_id": second}, nil)
	bob := b.id("bob")
	eventually(t, "alice sees bob read both", func() error {
		for _, m := range a.messages("alice", roomID) {
			if len(m.ReadBy) != 1 || m.ReadBy[0].UserID != bob || m.ReadBy[0].TS == 0 {
				return fmt.Errorf("%s: %+v", m.Body, m.ReadBy)
			}
		}
		return nil
	})
	// Bob's own server shows it too; the sender is never listed.
	a.must(200, "POST", roomPath(roomID, "/read"), "alice", map[string]string{"event_id": first}, nil)
	for _, m := range b.messages("bob", roomID) {
		if len(m.ReadBy) != 1 || m.ReadBy[0].UserID != bob {
			t.Fatalf("%s on B: %+v", m.Body, m.ReadBy)
		}
	}
	reply := b.send("bob", roomID, "three")
	eventually(t, "alice gets bob's message", func() error {
		if n := len(a.messages("alice", roomID)); n != 3 {
			return fmt.Errorf("%d", n)
		}
		return nil
	})
	a.must(200, "POST", roomPath(roomID, "/read"), "alice", map[string]string{"event_id": reply}, nil)
	eventually(t, "bob sees alice read his message", func() error {
		msgs := b.messages("bob", roomID)
		last := msgs[len(msgs)-1]
		if last.EventID != reply || len(last.ReadBy) != 1 || last.ReadBy[0].UserID != a.id("alice") {
			return fmt.Errorf("%+v", last)
		}
		return nil
	})

	a.refused(400, "M_MISSING_PARAM", "POST", roomPath(roomID, "/read"), "alice", nil)
	a.refused(404, "M_NOT_FOUND", "POST", roomPath(roomID, "/read"), "alice", map[string]string{"event_id": "$nope"})
	a.refused(403, "M_FORBIDDEN", "POST", roomPath(roomID, "/read"), "carol", map[string]string{"event_id": first})
	a.refused(404, "M_NOT_FOUND", "POST", roomPath("!nowhere:"+a.name(), "/read"), "alice", map[string]string{"event_id": first})
}

// Typing shows in GET /api/rooms/{room} on both servers, and stops.
func TestTyping(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	bob := b.id("bob")
	typing := func(n *node, user string, want ...string) {
		t.Helper()
		eventually(t, fmt.Sprintf("%s shows %v typing", n.name(), want), func() error {
			if got := n.room(user, roomID).Typing; !slices.Equal(got, want) && !(len(want) == 0 && len(got) == 0) {
				return fmt.Errorf("typing %v", got)
			}
			return nil
		})
	}
	b.must(200, "POST", roomPath(roomID, "/typing"), "bob", map[string]bool{"typing": true}, nil)
	typing(b, "bob", bob)
	typing(a, "alice", bob)
	b.must(200, "POST", roomPath(roomID, "/typing"), "bob", map[string]bool{"typing": false}, nil)
	typing(a, "alice")
	typing(b, "bob")

	// Sending a message ends typing.
	a.must(200, "POST", roomPath(roomID, "/typing"), "alice", map[string]bool{"typing": true}, nil)
	typing(b, "bob", a.id("alice"))
	a.send("alice", roomID, "done typing")
	typing(b, "bob")

	// Nobody refreshes: it stops at the timeout (3 s in these tests).
	b.must(200, "POST", roomPath(roomID, "/typing"), "bob", map[string]bool{"typing": true}, nil)
	typing(a, "alice", bob)
	typing(a, "alice")

	b.refused(400, "M_MISSING_PARAM", "POST", roomPath(roomID, "/typing"), "bob", map[string]string{})
	b.refused(400, "M_BAD_JSON", "POST", roomPath(roomID, "/typing"), "bob", map[string]string{"typing": "yes"})
	a.refused(403, "M_FORBIDDEN", "POST", roomPath(roomID, "/typing"), "carol", map[string]bool{"typing": true})
	a.refused(404, "M_NOT_FOUND", "POST", roomPath("!nowhere:"+a.name(), "/typing"), "alice", map[string]bool{"typing": true})
}
