package homeserver

import (
	"context"
	"errors"
	"testing"
)

// Tests of invite_api.go: the invite lifecycle from the host's side.

func TestInviteLifecycle(t *testing.T) {
	a, b := twoPeers(t)
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
		expect(t, "a's host: accepted", a.inviteStates, func(i Invite) bool { return i.Invitee == b.userID("bob") && i.State == "accepted" })
		expect(t, "b's host: accepted", b.inviteStates, func(i Invite) bool { return i.Invitee == b.userID("bob") && i.State == "accepted" })
	})
	t.Run("rejected through the inviting server", func(t *testing.T) {
		if err := a.srv.Invite(ctx, roomID, "alice", b.userID("ben")); err != nil {
			t.Fatal(err)
		}
		waitInvite(t, b.invites, roomID)
		if err := b.srv.RejectInvite(ctx, roomID, "ben"); err != nil {
			t.Fatal(err)
		}
		expect(t, "a's host: rejected", a.inviteStates, func(i Invite) bool { return i.Invitee == b.userID("ben") && i.State == "rejected" })
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
		expect(t, "b's host: revoked", b.inviteStates, func(i Invite) bool { return i.Invitee == b.userID("bill") && i.State == "revoked" })
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
