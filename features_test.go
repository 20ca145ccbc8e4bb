package homeserver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/invites"
)

// recorder collects every hook of a peer so a test reads as: do X on A,
// expect Y on B's host.
type recorder struct {
	inviteStates chan Invite
	roles        chan RoleChange
	names        chan RoomChange
	topics       chan RoomChange
}

func record(p *peer) *recorder {
	r := &recorder{inviteStates: make(chan Invite, 100), roles: make(chan RoleChange, 100),
		names: make(chan RoomChange, 100), topics: make(chan RoomChange, 100)}
	p.extraHooks = func(h *Hooks) {
		h.OnInviteState = func(_ context.Context, i Invite) { r.inviteStates <- i }
		h.OnRoleChange = func(_ context.Context, c RoleChange) { r.roles <- c }
		h.OnRoomName = func(_ context.Context, c RoomChange) { r.names <- c }
		h.OnRoomTopic = func(_ context.Context, c RoomChange) { r.topics <- c }
	}
	p.restart()
	return r
}

func expect[T any](t *testing.T, what string, ch <-chan T, ok func(T) bool) T {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case v := <-ch:
			if ok(v) {
				return v
			}
		case <-deadline:
			t.Fatalf("%s: nothing within %s", what, waitFor)
		}
	}
}

func twoPeers(t *testing.T) (*peer, *peer, *recorder, *recorder) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
	return a, b, record(a), record(b)
}

func TestDirectMessages(t *testing.T) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
	c := startPeer(t, n, "hs-c.test", dbPath(t, "c"))
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
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
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
		if !contains(s, sub) {
			return false
		}
	}
	return true
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestNameAndTopicBothWays(t *testing.T) {
	a, b, ra, rb := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	if err := a.srv.SetRoomName(ctx, roomID, "alice", "Renamed"); err != nil {
		t.Fatal(err)
	}
	expect(t, "b's host hears of the name", rb.names, func(c RoomChange) bool { return c.Value == "Renamed" })
	if err := b.srv.SetRoomTopic(ctx, roomID, "bob", "from bob"); err == nil {
		t.Fatal("bob (a plain user) changed the topic")
	}
	if err := a.srv.SetRole(ctx, roomID, "alice", b.userID("bob"), "moderator"); err != nil {
		t.Fatal(err)
	}
	expect(t, "b's host hears bob became a moderator", rb.roles, func(c RoleChange) bool {
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
	expect(t, "a's host hears of the topic", ra.topics, func(c RoomChange) bool { return c.Value == "from bob" })
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

func TestRolesBothWays(t *testing.T) {
	a, b, ra, _ := twoPeers(t)
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
	expect(t, "a's host hears dave became a moderator", ra.roles, func(c RoleChange) bool {
		return c.UserID == a.userID("dave") && c.NewRole == "moderator"
	})
}

func TestInviteLifecycle(t *testing.T) {
	a, b, ra, rb := twoPeers(t)
	ctx := context.Background()
	roomID, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Name: "Lifecycle"})
	if err != nil {
		t.Fatal(err)
	}
	state := func(p *peer, user string) string {
		invs, err := p.srv.RoomInvites(ctx, roomID)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range invs {
			if i.Invitee == user {
				return i.State
			}
		}
		return ""
	}

	t.Run("pending then accepted, and what was said meanwhile arrives", func(t *testing.T) {
		if err := a.srv.Invite(ctx, roomID, "alice", b.userID("bob")); err != nil {
			t.Fatal(err)
		}
		waitInvite(t, b.invites, roomID)
		if state(a, b.userID("bob")) != "pending" || state(b, b.userID("bob")) != "pending" {
			t.Fatal("invite not pending on both sides")
		}
		if _, err := a.srv.SendMessage(ctx, roomID, "alice", "said while bob was invited"); err != nil {
			t.Fatal(err)
		}
		if err := b.srv.AcceptInvite(ctx, roomID, "bob"); err != nil {
			t.Fatal(err)
		}
		m := waitMessage(t, b.messages, "said while bob was invited")
		if !m.Backfilled {
			t.Error("history is not marked Backfilled")
		}
		expect(t, "a's host: accepted", ra.inviteStates, func(i Invite) bool { return i.Invitee == b.userID("bob") && i.State == "accepted" })
		expect(t, "b's host: accepted", rb.inviteStates, func(i Invite) bool { return i.Invitee == b.userID("bob") && i.State == "accepted" })
	})
	t.Run("rejected through the inviting server", func(t *testing.T) {
		if err := a.srv.Invite(ctx, roomID, "alice", b.userID("ben")); err != nil {
			t.Fatal(err)
		}
		waitInvite(t, b.invites, roomID)
		if err := b.srv.RejectInvite(ctx, roomID, "ben"); err != nil {
			t.Fatal(err)
		}
		expect(t, "a's host: rejected", ra.inviteStates, func(i Invite) bool { return i.Invitee == b.userID("ben") && i.State == "rejected" })
		if st := state(b, b.userID("ben")); st != "rejected" {
			t.Fatalf("b shows %q", st)
		}
		if m, _ := a.srv.membershipOf(ctx, roomID, b.userID("ben")); m != "leave" {
			t.Fatalf("a's room shows ben as %q", m)
		}
	})
	t.Run("revoked while pending reaches the invitee's server", func(t *testing.T) {
		if err := a.srv.Invite(ctx, roomID, "alice", b.userID("bill")); err != nil {
			t.Fatal(err)
		}
		waitInvite(t, b.invites, roomID)
		if err := a.srv.RevokeInvite(ctx, roomID, "alice", b.userID("bill")); err != nil {
			t.Fatal(err)
		}
		expect(t, "b's host: revoked", rb.inviteStates, func(i Invite) bool { return i.Invitee == b.userID("bill") && i.State == "revoked" })
		if st := state(a, b.userID("bill")); st != "revoked" {
			t.Fatalf("a shows %q", st)
		}
		if err := b.srv.AcceptInvite(ctx, roomID, "bill"); !errors.Is(err, ErrNotInvited) {
			t.Fatalf("accepting a revoked invite: %v", err)
		}
	})
	t.Run("only the inviter or a kicker may revoke", func(t *testing.T) {
		if err := a.srv.Invite(ctx, roomID, "alice", b.userID("bea")); err != nil {
			t.Fatal(err)
		}
		waitInvite(t, b.invites, roomID)
		eventually(t, "b's room shows bea invited", waitFor, func() error {
			if m, _ := b.srv.membershipOf(ctx, roomID, b.userID("bea")); m != "invite" {
				return errors.New(m)
			}
			return nil
		})
		if err := b.srv.RevokeInvite(ctx, roomID, "bob", b.userID("bea")); !errors.Is(err, ErrNotInviter) {
			t.Fatalf("bob (not the inviter, no kick power) revoked: %v", err)
		}
	})
	t.Run("rejecting with the inviting server down still clears the invite", func(t *testing.T) {
		if err := a.srv.Invite(ctx, roomID, "alice", b.userID("bo")); err != nil {
			t.Fatal(err)
		}
		waitInvite(t, b.invites, roomID)
		a.stop()
		defer a.start()
		if err := b.srv.RejectInvite(ctx, roomID, "bo"); err != nil {
			t.Fatal(err)
		}
		if st := state(b, b.userID("bo")); st != "rejected" {
			t.Fatalf("b shows %q", st)
		}
	})
}

func TestBanAndUnban(t *testing.T) {
	a, b, _, _ := twoPeers(t)
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
	a, b, _, rb := twoPeers(t)
	roomID := sharedRoom(t, a, b, "10")
	alice := a.userID("alice")
	pl := func(usersDefault int, users map[string]int) map[string]any {
		return map[string]any{"users": users, "users_default": usersDefault, "state_default": 50,
			"ban": 50, "kick": 50, "redact": 50, "invite": 50,
			"events": map[string]int{"m.room.power_levels": 100}}
	}
	sendState(t, a, roomID, "alice", "m.room.power_levels", "", pl(60, map[string]int{alice: 100}))
	expect(t, "users_default 60 makes bob a moderator", rb.roles, func(c RoleChange) bool {
		return c.UserID == b.userID("bob") && c.OldRole == "user" && c.NewRole == "moderator" && c.NewLevel == 60
	})
	// 60 -> 99 keeps bob a moderator: no role change. Then dropping him
	// from "users" (users_default back to 0) makes him a user: the next
	// change the host hears of is that one.
	sendState(t, a, roomID, "alice", "m.room.power_levels", "", pl(0, map[string]int{alice: 100, b.userID("bob"): 99}))
	sendState(t, a, roomID, "alice", "m.room.power_levels", "", pl(0, map[string]int{alice: 100}))
	c := expect(t, "bob dropped from users", rb.roles, func(c RoleChange) bool { return c.UserID == b.userID("bob") })
	if c.OldRole != "moderator" || c.NewRole != "user" || c.OldLevel != 99 || c.NewLevel != 0 {
		t.Fatalf("first role change after 60 -> 99: %+v, want moderator (99) -> user (0)", c)
	}
}
