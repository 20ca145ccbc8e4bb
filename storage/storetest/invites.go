package storetest

import (
	"bytes"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

func invite(roomID, userID string, created int64) storage.Invite {
	return storage.Invite{
		RoomID:      roomID,
		UserID:      userID,
		Inviter:     "@inviter:remote.example",
		Direction:   storage.InviteInbound,
		EventID:     "$invite" + roomID + userID,
		RoomVersion: "10",
		EventJSON:   []byte(`{"type":"m.room.member","room_id":"` + roomID + `"}`),
		RoomState:   []byte(`[{"type":"m.room.name","room":"` + roomID + `"}]`),
		State:       storage.InvitePending,
		CreatedTS:   created,
		UpdatedTS:   created,
	}
}

func eqInvite(t *testing.T, what string, got, want storage.Invite) {
	t.Helper()
	if got.RoomID != want.RoomID || got.UserID != want.UserID || got.Inviter != want.Inviter ||
		got.Direction != want.Direction || got.EventID != want.EventID || got.RoomVersion != want.RoomVersion ||
		!bytes.Equal(got.EventJSON, want.EventJSON) || !bytes.Equal(got.RoomState, want.RoomState) ||
		got.State != want.State || got.CreatedTS != want.CreatedTS || got.UpdatedTS != want.UpdatedTS {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func testInvites(t *testing.T, open opener) {
	const user = "@bob:test.example"

	t.Run("Missing", func(t *testing.T) {
		s := open(t)
		_, err := s.Invite(ctx(t), "!r:t", user)
		mustNotFound(t, "Invite of a missing invite", err)
		invs, err := s.Invites(ctx(t), user)
		mustOK(t, "Invites", err)
		if len(invs) != 0 {
			t.Fatalf("Invites of an empty store: got %d", len(invs))
		}
		mustNotFound(t, "SetInviteState of a missing invite",
			s.SetInviteState(ctx(t), "!r:t", user, storage.InviteAccepted, 5))
	})

	t.Run("RoomInvites", func(t *testing.T) {
		s := open(t)
		mustOK(t, "PutInvite", s.PutInvite(ctx(t), invite("!r:t", "@a:t", 100)))
		mustOK(t, "PutInvite", s.PutInvite(ctx(t), invite("!r:t", "@b:t", 200)))
		mustOK(t, "PutInvite", s.PutInvite(ctx(t), invite("!other:t", "@a:t", 300)))
		invs, err := s.RoomInvites(ctx(t), "!r:t")
		mustOK(t, "RoomInvites", err)
		if len(invs) != 2 || invs[0].UserID != "@b:t" || invs[1].UserID != "@a:t" {
			t.Fatalf("RoomInvites: got %+v, want @b:t then @a:t", invs)
		}
		invs, err = s.RoomInvites(ctx(t), "!none:t")
		mustOK(t, "RoomInvites of a room without invites", err)
		if len(invs) != 0 {
			t.Fatalf("RoomInvites of a room without invites: %d", len(invs))
		}
	})

	t.Run("PutGetReplace", func(t *testing.T) {
		s := open(t)
		inv := invite("!r:t", user, 100)
		mustOK(t, "PutInvite", s.PutInvite(ctx(t), inv))
		got, err := s.Invite(ctx(t), "!r:t", user)
		mustOK(t, "Invite", err)
		eqInvite(t, "Invite", got, inv)

		repl := invite("!r:t", user, 200)
		repl.Inviter, repl.Direction, repl.EventID = "@carol:t", storage.InviteOutbound, "$second"
		repl.EventJSON, repl.RoomState = []byte(`{"second":true}`), []byte(`[]`)
		mustOK(t, "PutInvite replacement", s.PutInvite(ctx(t), repl))
		got, err = s.Invite(ctx(t), "!r:t", user)
		mustOK(t, "Invite", err)
		eqInvite(t, "Invite after replacement", got, repl)
		invs, err := s.Invites(ctx(t), user)
		mustOK(t, "Invites", err)
		if len(invs) != 1 {
			t.Fatalf("Invites after a replacement: got %d, want 1", len(invs))
		}
		eqInvite(t, "Invites[0]", invs[0], repl)
	})

	t.Run("NewestFirst", func(t *testing.T) {
		s := open(t)
		i1, i2, i3 := invite("!one:t", user, 100), invite("!two:t", user, 200), invite("!three:t", user, 300)
		other := invite("!one:t", "@someone:t", 400)
		for _, inv := range []storage.Invite{i2, other, i1, i3} {
			mustOK(t, "PutInvite", s.PutInvite(ctx(t), inv))
		}
		invs, err := s.Invites(ctx(t), user)
		mustOK(t, "Invites", err)
		want := []storage.Invite{i3, i2, i1}
		if len(invs) != len(want) {
			t.Fatalf("Invites: got %d, want %d", len(invs), len(want))
		}
		for i := range want {
			eqInvite(t, "Invites", invs[i], want[i])
		}
		invs, err = s.Invites(ctx(t), "@nobody:t")
		mustOK(t, "Invites", err)
		if len(invs) != 0 {
			t.Fatalf("Invites of a user with none: got %d", len(invs))
		}
	})

	t.Run("SetState", func(t *testing.T) {
		s := open(t)
		inv := invite("!r:t", user, 100)
		other := invite("!r2:t", user, 100)
		mustOK(t, "PutInvite", s.PutInvite(ctx(t), inv))
		mustOK(t, "PutInvite", s.PutInvite(ctx(t), other))
		mustOK(t, "SetInviteState", s.SetInviteState(ctx(t), "!r:t", user, storage.InviteRejected, 555))
		got, err := s.Invite(ctx(t), "!r:t", user)
		mustOK(t, "Invite", err)
		inv.State, inv.UpdatedTS = storage.InviteRejected, 555
		eqInvite(t, "Invite after SetInviteState", got, inv)
		got, err = s.Invite(ctx(t), "!r2:t", user)
		mustOK(t, "Invite", err)
		eqInvite(t, "other invite", got, other)
	})
}

func testInbound(t *testing.T, open opener) {
	s := open(t)
	_, err := s.InboundTransaction(ctx(t), "a.example", "t1")
	mustNotFound(t, "InboundTransaction of an unknown transaction", err)
	mustOK(t, "SaveInboundTransaction", s.SaveInboundTransaction(ctx(t), "a.example", "t1", []byte(`{"pdus":{"a":{}}}`)))
	mustOK(t, "SaveInboundTransaction", s.SaveInboundTransaction(ctx(t), "b.example", "t1", []byte(`{"pdus":{"b":{}}}`)))
	got, err := s.InboundTransaction(ctx(t), "a.example", "t1")
	mustOK(t, "InboundTransaction", err)
	if string(got) != `{"pdus":{"a":{}}}` {
		t.Fatalf("InboundTransaction a: got %s", got)
	}
	got, err = s.InboundTransaction(ctx(t), "b.example", "t1")
	mustOK(t, "InboundTransaction", err)
	if string(got) != `{"pdus":{"b":{}}}` {
		t.Fatalf("InboundTransaction b: got %s", got)
	}
	_, err = s.InboundTransaction(ctx(t), "a.example", "t2")
	mustNotFound(t, "InboundTransaction of another transaction ID", err)
}
