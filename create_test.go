package homeserver

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/embedmatrix/homeserver/invites"
)

// Tests of create.go: rooms, DMs and group DMs, the /federation dm
// command, refused room types.

func TestDirectMessages(t *testing.T) {
	a, b, c := threePeers(t)
	ctx := context.Background()

	dm, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Kind: KindDM, Invite: []string{b.userID("bob")}})
	if err != nil {
		t.Fatal(err)
	}
	inv := waitInvite(t, b.invites, dm)
	if !inv.IsDirect {
		t.Error("the DM invite does not carry is_direct")
	}
	if err := b.srv.AcceptInvite(ctx, dm, "bob"); err != nil {
		t.Fatal(err)
	}
	waitMembership(t, a.memberships, b.userID("bob"), "join")
	for _, p := range []*peer{a, b} {
		sum, err := p.srv.Room(ctx, dm)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Kind != KindDM || sum.Origin != "hs-a.test" {
			t.Errorf("%s sees kind %q origin %q", p.name, sum.Kind, sum.Origin)
		}
		for _, m := range sum.Members {
			if m.Role != "owner" || m.Membership != "join" {
				t.Errorf("%s: %s is %s/%s, want a joined owner", p.name, m.UserID, m.Role, m.Membership)
			}
		}
	}

	group, err := a.srv.Command(ctx, "alice", "/federation dm "+b.userID("bob")+" "+c.userID("carol"))
	if err != nil {
		t.Fatal(err)
	}
	waitInvite(t, b.invites, group)
	waitInvite(t, c.invites, group)
	sum, _ := a.srv.Room(ctx, group)
	if sum.Kind != KindGroup || len(sum.Members) != 3 {
		t.Fatalf("group DM summary: %+v", sum)
	}
	if _, err := a.srv.Command(ctx, "alice", "hello"); !errors.Is(err, invites.ErrNotACommand) {
		t.Errorf("plain text: %v", err)
	}
	if _, err := a.srv.Command(ctx, "alice", "/federation dm @bob"); !errors.Is(err, invites.ErrUsage) {
		t.Errorf("bad user ID: %v", err)
	}
}

func TestRefusedRoomTypes(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	for _, req := range []CreateRoomRequest{{Encrypted: true}, {ReadOnly: true}, {Broadcast: true}} {
		req.Creator = "alice"
		if _, err := a.srv.CreateRoom(ctx, req); !errors.Is(err, ErrUnsupportedRoomType) {
			t.Errorf("%+v: %v", req, err)
		}
	}
	// An invite into an encrypted room is refused with a Matrix error.
	roomID, _ := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice"})
	sendState(t, a, roomID, "alice", "m.room.encryption", "", map[string]string{"algorithm": "m.megolm.v1.aes-sha2"})
	err := a.srv.Invite(ctx, roomID, "alice", b.userID("bob"))
	if err == nil {
		t.Fatal("b accepted an invite into an encrypted room")
	}
	if !containsAll(err.Error(), "M_FORBIDDEN", "encrypted") {
		t.Fatalf("refusal is not a clear Matrix error: %v", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
