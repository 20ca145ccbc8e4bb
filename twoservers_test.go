package homeserver

import (
	"context"
	"fmt"
	"testing"
)

func TestTwoServersShareARoom(t *testing.T) {
	for _, version := range []string{"10", "11", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			n := newNetwork()
			a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
			b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
			ctx := context.Background()
			roomID := sharedRoom(t, a, b, version)

			if _, err := a.srv.SendMessage(ctx, roomID, "alice", "hello bob"); err != nil {
				t.Fatal(err)
			}
			m := waitMessage(t, b.messages, "hello bob")
			if m.Sender != a.userID("alice") || m.RoomID != roomID {
				t.Fatalf("b got %+v", m)
			}
			if _, err := b.srv.SendMessage(ctx, roomID, "bob", "hello alice"); err != nil {
				t.Fatal(err)
			}
			m = waitMessage(t, a.messages, "hello alice")
			if m.Sender != b.userID("bob") {
				t.Fatalf("a got %+v", m)
			}
			invs, err := b.srv.Invites(ctx, "bob")
			if err != nil || len(invs) != 1 || invs[0].State != "accepted" {
				t.Fatalf("bob's invites after accepting: %+v, %v", invs, err)
			}
		})
	}
}

// TestRestartLosesNothing restarts server B on the same SQLite file between
// two messages: what A sent while B was down arrives once, and both sides
// hold the same messages, none twice.
func TestRestartLosesNothing(t *testing.T) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")

	send := func(p *peer, user, body string) {
		t.Helper()
		if _, err := p.srv.SendMessage(ctx, roomID, user, body); err != nil {
			t.Fatal(err)
		}
	}
	send(a, "alice", "m1")
	waitMessage(t, b.messages, "m1")

	b.stop()
	send(a, "alice", "m2 while b is down")
	send(a, "alice", "m3 while b is down")
	b.start()
	waitMessage(t, b.messages, "m2 while b is down")
	waitMessage(t, b.messages, "m3 while b is down")
	send(b, "bob", "m4 after restart")
	waitMessage(t, a.messages, "m4 after restart")

	want := []string{"m1", "m2 while b is down", "m3 while b is down", "m4 after restart"}
	for _, p := range []*peer{a, b} {
		msgs, err := p.srv.Messages(ctx, roomID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range msgs {
			got = append(got, m.Body)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s holds %q, want %q", p.name, got, want)
		}
	}
	select {
	case m := <-b.messages:
		t.Errorf("b was told of a message twice or unexpectedly: %+v", m)
	default:
	}
}

// TestQueueSurvivesSenderRestart queues messages for a server that is
// down, restarts the sending server, and checks each message arrives once
// after both are up: the send queue lives in the store.
func TestQueueSurvivesSenderRestart(t *testing.T) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")

	b.stop()
	for i := range 60 { // more than one transaction's worth
		if _, err := a.srv.SendMessage(ctx, roomID, "alice", fmt.Sprintf("queued %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	a.restart()
	b.start()
	for i := range 60 {
		waitMessage(t, b.messages, fmt.Sprintf("queued %d", i))
	}
	msgs, err := b.srv.Messages(ctx, roomID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 60 {
		t.Fatalf("b stored %d messages, want 60", len(msgs))
	}
	select {
	case m := <-b.messages:
		t.Fatalf("a message was delivered twice: %+v", m)
	default:
	}
}
