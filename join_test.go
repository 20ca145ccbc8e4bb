package homeserver

import (
	"context"
	"testing"
)

// Tests of join.go: joining a remote room, leaving.

func TestJoinRoomFailsOver(t *testing.T) {
	a, b, c := threePeers(t)
	ctx := context.Background()
	roomID, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Public: true, Name: "Lobby"})
	if err != nil {
		t.Fatal(err)
	}
	_ = b
	// nowhere.test is down, b does not know the room (404), a lets us in.
	if err := c.srv.JoinRoom(ctx, roomID, "carol", []string{"nowhere.test", "hs-b.test", "hs-a.test"}); err != nil {
		t.Fatal(err)
	}
	waitMembership(t, a.memberships, c.userID("carol"), "join")
	if _, err := a.srv.SendMessage(ctx, roomID, "alice", "welcome"); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, c.messages, "welcome")
	if err := c.srv.JoinRoom(ctx, "!missing:hs-a.test", "carol", []string{"hs-b.test"}); err == nil {
		t.Fatal("joining an unknown room succeeded")
	}
}

func TestLeave(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	if err := b.srv.Leave(ctx, roomID, "bob"); err != nil {
		t.Fatal(err)
	}
	waitMembership(t, a.memberships, b.userID("bob"), "leave")
	servers, err := a.srv.rooms.JoinedServers(ctx, roomID)
	if err != nil || len(servers) != 1 || servers[0] != "hs-a.test" {
		t.Fatalf("joined servers after bob left: %v %v", servers, err)
	}
}
