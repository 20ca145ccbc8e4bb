package homeserver

import (
	"context"
	"errors"
	"testing"
)

// Tests of summary.go: room name and topic.

func TestNameAndTopicBothWays(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	if err := a.srv.SetRoomName(ctx, roomID, "alice", "Renamed"); err != nil {
		t.Fatal(err)
	}
	expect(t, "b's host hears of the name", b.names, func(c RoomChange) bool { return c.Value == "Renamed" })
	if err := b.srv.SetRoomTopic(ctx, roomID, "bob", "from bob"); err == nil {
		t.Fatal("bob (a plain user) changed the topic")
	}
	if err := a.srv.SetRole(ctx, roomID, "alice", b.userID("bob"), "moderator"); err != nil {
		t.Fatal(err)
	}
	expect(t, "b's host hears bob became a moderator", b.roles, func(c RoleChange) bool {
		return c.UserID == b.userID("bob") && c.NewRole == "moderator" && c.OldRole == "user"
	})
	eventually(t, "b sees bob's power", waitFor, func() error {
		if r, _ := b.srv.Role(ctx, roomID, b.userID("bob")); r != "moderator" {
			return errors.New(r)
		}
		return nil
	})
	if err := b.srv.SetRoomTopic(ctx, roomID, "bob", "from bob"); err != nil {
		t.Fatal(err)
	}
	expect(t, "a's host hears of the topic", a.topics, func(c RoomChange) bool { return c.Value == "from bob" })
	for _, p := range []*peer{a, b} {
		eventually(t, p.name+" summary", waitFor, func() error {
			sum, err := p.srv.Room(ctx, roomID)
			if err != nil {
				return err
			}
			if sum.Name != "Renamed" || sum.Topic != "from bob" {
				return errors.New(sum.Name + "/" + sum.Topic)
			}
			return nil
		})
	}
}
