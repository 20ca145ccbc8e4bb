package homeserver

import (
	"context"
	"fmt"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Tests of messages.go: messages both ways, history backfilled on demand.

func TestTwoServersShareARoom(t *testing.T) {
	for _, version := range []string{"10", "11", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			a, b := twoPeers(t)
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

func TestBackfillOnDemand(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := a.srv.SendMessage(ctx, roomID, "alice", fmt.Sprintf("old %02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.srv.JoinRoom(ctx, roomID, "bob", []string{"hs-a.test"}); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := b.srv.Messages(ctx, roomID, 0, 100); len(msgs) != 0 {
		t.Fatalf("b has %d messages before backfill", len(msgs))
	}
	// Where history can be fetched from: bob's join, whose prev event (a's
	// last message) b does not hold; once all is backfilled, nowhere.
	ext, err := b.srv.rooms.BackwardExtremities(ctx, roomID)
	if err != nil || len(ext) != 1 {
		t.Fatalf("backward extremities before backfill: %v, %v; want bob's join", ext, err)
	}
	bob, _ := b.srv.UserID("bob")
	if ev, err := b.srv.store.Event(ctx, ext[0]); err != nil || ev.Type != spec.MRoomMember || ev.StateKey == nil || *ev.StateKey != bob {
		t.Fatalf("backward extremity %s is not bob's join: %+v, %v", ext[0], ev, err)
	}
	got, err := b.srv.Backfill(ctx, roomID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 30 {
		t.Fatalf("backfilled %d messages, want 30", len(got))
	}
	for i, m := range got {
		if m.Body != fmt.Sprintf("old %02d", i) {
			t.Fatalf("message %d is %q: not oldest first", i, m.Body)
		}
	}
	for _, m := range got {
		if !stored(t, b, m.EventID) {
			t.Fatalf("backfilled %s not stored", m.EventID)
		}
	}
	if ext, err := b.srv.rooms.BackwardExtremities(ctx, roomID); err != nil || len(ext) != 0 {
		t.Fatalf("backward extremities after backfilling everything: %v, %v", ext, err)
	}
	// History does not move the room: new messages still flow both ways.
	if _, err := b.srv.SendMessage(ctx, roomID, "bob", "after backfill"); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, a.messages, "after backfill")
	select {
	case m := <-b.messages:
		t.Fatalf("a backfilled message reached the host as new: %+v", m)
	default:
	}
}
