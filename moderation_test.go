package homeserver

import (
	"context"
	"errors"
	"testing"
)

// Tests of moderation.go: roles, bans, kicks.

func TestRolesBothWays(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	// bob, a plain user, may not touch alice's role: refused before sending.
	err := b.srv.SetRole(ctx, roomID, "bob", a.userID("alice"), "user")
	if !errors.Is(err, ErrForbidden) {
		t.Fatalf("bob demoted alice: %v", err)
	}
	if err := a.srv.SetRole(ctx, roomID, "alice", b.userID("bob"), "owner"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob is an owner on b", waitFor, func() error {
		if r, _ := b.srv.Role(ctx, roomID, b.userID("bob")); r != "owner" {
			return errors.New(r)
		}
		return nil
	})
	// Now bob (an owner on b) gives a new member a role; a's host hears it.
	if err := b.srv.Invite(ctx, roomID, "bob", a.userID("dave")); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.SetRole(ctx, roomID, "bob", a.userID("dave"), "moderator"); err != nil {
		t.Fatal(err)
	}
	expect(t, "a's host hears dave became a moderator", a.roles, func(c RoleChange) bool {
		return c.UserID == a.userID("dave") && c.NewRole == "moderator"
	})
}

func TestBanAndUnban(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	if err := a.srv.Ban(ctx, roomID, "alice", b.userID("bob"), "spamming"); err != nil {
		t.Fatal(err)
	}
	expect(t, "b's host: bob banned with the reason", b.memberships, func(m Membership) bool {
		return m.UserID == b.userID("bob") && m.Change == "ban" && m.Reason == "spamming"
	})
	banned, err := a.srv.Banned(ctx, roomID)
	if err != nil || len(banned) != 1 || banned[0].Reason != "spamming" {
		t.Fatalf("Banned: %+v %v", banned, err)
	}
	if err := a.srv.Invite(ctx, roomID, "alice", b.userID("bob")); !errors.Is(err, ErrBanned) {
		t.Fatalf("inviting a banned user: %v", err)
	}
	if err := b.srv.JoinRoom(ctx, roomID, "bob", []string{"hs-a.test"}); err == nil {
		t.Fatal("a banned user rejoined")
	}
	if err := a.srv.Unban(ctx, roomID, "alice", b.userID("bob")); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.Invite(ctx, roomID, "alice", b.userID("bob")); err != nil {
		t.Fatalf("invite after unban: %v", err)
	}
	waitInvite(t, b.invites, roomID)
	if err := b.srv.AcceptInvite(ctx, roomID, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.Kick(ctx, roomID, "alice", b.userID("bob"), "cool down"); err != nil {
		t.Fatal(err)
	}
	expect(t, "b's host: bob kicked", b.memberships, func(m Membership) bool {
		return m.UserID == b.userID("bob") && m.Change == "kick" && m.Reason == "cool down"
	})
}

// TestRoleChangesByThreshold: a changed users_default and a user dropped
// from "users" reach the other host as role changes, read by threshold.
func TestRoleChangesByThreshold(t *testing.T) {
	a, b := twoPeers(t)
	roomID := sharedRoom(t, a, b, "10")
	alice := a.userID("alice")
	pl := func(usersDefault int, users map[string]int) map[string]any {
		return map[string]any{"users": users, "users_default": usersDefault, "state_default": 50,
			"ban": 50, "kick": 50, "redact": 50, "invite": 50,
			"events": map[string]int{"m.room.power_levels": 100}}
	}
	sendState(t, a, roomID, "alice", "m.room.power_levels", "", pl(60, map[string]int{alice: 100}))
	expect(t, "users_default 60 makes bob a moderator", b.roles, func(c RoleChange) bool {
		return c.UserID == b.userID("bob") && c.OldRole == "user" && c.NewRole == "moderator" && c.NewLevel == 60
	})
	// 60 -> 99 keeps bob a moderator: no role change. Then dropping him
	// from "users" (users_default back to 0) makes him a user: the next
	// change the host hears of is that one.
	sendState(t, a, roomID, "alice", "m.room.power_levels", "", pl(0, map[string]int{alice: 100, b.userID("bob"): 99}))
	sendState(t, a, roomID, "alice", "m.room.power_levels", "", pl(0, map[string]int{alice: 100}))
	c := expect(t, "bob dropped from users", b.roles, func(c RoleChange) bool { return c.UserID == b.userID("bob") })
	if c.OldRole != "moderator" || c.NewRole != "user" || c.OldLevel != 99 || c.NewLevel != 0 {
		t.Fatalf("first role change after 60 -> 99: %+v, want moderator (99) -> user (0)", c)
	}
}
