package homeserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// withKnocks records the peer's OnKnock calls on ch.
func withKnocks(ch chan Knock) peerOption {
	return withHooks(func(h *Hooks) { h.OnKnock = func(_ context.Context, k Knock) { ch <- k } })
}

// knockRoom creates a channel with the knock join rule on a, by alice.
func knockRoom(t *testing.T, a *peer, version string) string {
	t.Helper()
	roomID, err := a.srv.CreateRoom(context.Background(), CreateRoomRequest{Creator: "alice", Name: "Club", JoinRule: "knock", Version: version})
	if err != nil {
		t.Fatalf("create knock room: %v", err)
	}
	return roomID
}

func waitKnock(t *testing.T, ch <-chan Knock, userID, state string) Knock {
	t.Helper()
	return expect(t, userID+"'s knock "+state, ch, func(k Knock) bool { return k.UserID == userID && k.State == state })
}

// myKnock returns user's knock on roomID as MyKnocks lists it.
func myKnock(t *testing.T, p *peer, user, roomID string) (Knock, bool) {
	t.Helper()
	ks, err := p.srv.MyKnocks(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.RoomID == roomID {
			return k, true
		}
	}
	return Knock{}, false
}

// Knocks both ways between two of our Servers over HTTPS: refused once
// (the knocker's server is not in the room), accepted once (the knocker
// then joins), then a knock made directly by a server now in the room.
// https://spec.matrix.org/v1.16/server-server-api/#knocking-rooms
func TestKnockAcceptedAndRefused(t *testing.T) {
	for _, version := range []string{"10", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			ctx := context.Background()
			knocksA, knocksB := make(chan Knock, 20), make(chan Knock, 20)
			n := newNetwork()
			a := newPeer(t, n, "hs-a.test", withKnocks(knocksA))
			b := newPeer(t, n, "hs-b.test", withKnocks(knocksB))
			roomID := knockRoom(t, a, version)
			bob, carol, dave := b.userID("bob"), b.userID("carol"), b.userID("dave")

			// Refused: carol knocks while no one on b is in the room.
			if err := b.srv.Knock(ctx, roomID, "carol", "I know alice", []string{a.name}); err != nil {
				t.Fatalf("carol's knock: %v", err)
			}
			if k := waitKnock(t, knocksA, carol, KnockPending); k.Reason != "I know alice" || k.RoomID != roomID || k.EventID == "" {
				t.Fatalf("knock as a sees it: %+v", k)
			}
			waitMembership(t, a.memberships, carol, "knock")
			if k, ok := myKnock(t, b, "carol", roomID); !ok || k.State != KnockPending || k.Reason != "I know alice" {
				t.Fatalf("carol's knock as b lists it: %+v (found %v)", k, ok)
			}
			ks, err := a.srv.Knocks(ctx, roomID)
			if err != nil || len(ks) != 1 || ks[0].UserID != carol || ks[0].Reason != "I know alice" || ks[0].TS.IsZero() {
				t.Fatalf("Knocks: %+v, %v", ks, err)
			}
			if err := a.srv.RefuseKnock(ctx, roomID, "alice", carol, "not tonight"); err != nil {
				t.Fatalf("refuse: %v", err)
			}
			if k := waitKnock(t, knocksB, carol, KnockRefused); k.By != a.userID("alice") || k.Outcome != "not tonight" {
				t.Fatalf("refusal as b sees it: %+v", k)
			}
			if k, _ := myKnock(t, b, "carol", roomID); k.State != KnockRefused {
				t.Fatalf("carol's knock after the refusal: %+v", k)
			}
			if err := a.srv.RefuseKnock(ctx, roomID, "alice", carol, ""); !errors.Is(err, ErrNotKnocking) {
				t.Fatalf("refusing again: %v, want ErrNotKnocking", err)
			}
			if ks, _ := a.srv.Knocks(ctx, roomID); len(ks) != 0 {
				t.Fatalf("Knocks after the refusal: %+v", ks)
			}

			// Accepted: bob knocks, alice invites him, he joins.
			if err := b.srv.Knock(ctx, roomID, "bob", "", []string{a.name}); err != nil {
				t.Fatalf("bob's knock: %v", err)
			}
			waitKnock(t, knocksA, bob, KnockPending)
			if err := a.srv.AcceptKnock(ctx, roomID, "alice", bob); err != nil {
				t.Fatalf("accept: %v", err)
			}
			if inv := waitInvite(t, b.invites, roomID); inv.Invitee != bob || inv.State != "pending" {
				t.Fatalf("invite from the accepted knock: %+v", inv)
			}
			if k := waitKnock(t, knocksB, bob, KnockAccepted); k.By != a.userID("alice") || k.OutcomeEventID == "" {
				t.Fatalf("acceptance as b sees it: %+v", k)
			}
			if k, _ := myKnock(t, b, "bob", roomID); k.State != KnockAccepted {
				t.Fatalf("bob's knock after the invite: %+v", k)
			}
			if err := b.srv.AcceptInvite(ctx, roomID, "bob"); err != nil {
				t.Fatalf("bob joins: %v", err)
			}
			waitMembership(t, a.memberships, bob, "join")

			// b is in the room now: dave's knock is sent directly.
			if err := b.srv.Knock(ctx, roomID, "dave", "me too", nil); err != nil {
				t.Fatalf("dave's knock: %v", err)
			}
			if k := waitKnock(t, knocksA, dave, KnockPending); k.Reason != "me too" {
				t.Fatalf("dave's knock as a sees it: %+v", k)
			}
			if err := a.srv.RefuseKnock(ctx, roomID, "alice", dave, "full"); err != nil {
				t.Fatal(err)
			}
			if k := waitKnock(t, knocksB, dave, KnockRefused); k.Outcome != "full" {
				t.Fatalf("dave's refusal: %+v", k)
			}
		})
	}
}

// Knocks the host asks for that cannot be made fail before anything is
// sent, or with the remote server's refusal.
func TestKnockRefusedByTheRoom(t *testing.T) {
	ctx := context.Background()
	a, b := twoPeers(t)
	knockable := knockRoom(t, a, "")
	inviteOnly, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Name: "Closed"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.srv.Ban(ctx, knockable, "alice", b.userID("mallory"), "spam"); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		p      *peer
		room   string
		user   string
		status int
		is     error
	}{
		"remote room not knockable":  {b, inviteOnly, "bob", 403, nil},
		"remote room, banned":        {b, knockable, "mallory", 403, nil},
		"local room not knockable":   {a, inviteOnly, "zed", 0, ErrNotKnockable},
		"an unknown alias":           {b, "#club:" + a.name, "bob", 0, ErrUnknownAlias},
		"not a room ID":              {b, "club", "bob", 0, ErrUnknownRoom},
		"remote user as the knocker": {b, knockable, a.userID("alice"), 0, ErrInvalidUserID},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := c.p.srv.Knock(ctx, c.room, c.user, "", []string{a.name})
			if err == nil {
				t.Fatal("knock succeeded")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("%v, want %v", err, c.is)
			}
			if c.status != 0 {
				var re *RemoteError
				if !errors.As(err, &re) || re.Status != c.status || re.ErrCode != "M_FORBIDDEN" {
					t.Fatalf("%v, want a remote %d M_FORBIDDEN", err, c.status)
				}
			}
			if c.is == ErrInvalidUserID {
				return
			}
			if k, ok := myKnock(t, c.p, c.user, c.room); ok {
				t.Fatalf("a failed knock is listed: %+v", k)
			}
		})
	}
	// A knock by alias resolves it over federation, then knocks there.
	if err := a.srv.SetAlias(ctx, knockable, "alice", "#knockable:"+a.name); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Knock(ctx, "#knockable:"+a.name, "erin", "by alias", nil); err != nil {
		t.Fatalf("knock by alias: %v", err)
	}
	eventually(t, "erin's knock by alias on a", 10*time.Second, func() error {
		ks, err := a.srv.Knocks(ctx, knockable)
		if err != nil {
			return err
		}
		for _, k := range ks {
			if k.UserID == b.userID("erin") && k.Reason == "by alias" {
				return nil
			}
		}
		return errors.New("not yet")
	})
	if _, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Kind: KindGroup, Invite: []string{b.userID("bob")}, JoinRule: "knock"}); !errors.Is(err, ErrInvalidJoinRule) {
		t.Fatalf("a knockable group DM: %v, want ErrInvalidJoinRule", err)
	}
	if _, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", JoinRule: "private"}); !errors.Is(err, ErrInvalidJoinRule) {
		t.Fatalf("join rule private: %v, want ErrInvalidJoinRule", err)
	}
	if err := a.srv.AcceptKnock(ctx, knockable, "alice", b.userID("bob")); !errors.Is(err, ErrNotKnocking) {
		t.Fatalf("accepting a knock never made: %v, want ErrNotKnocking", err)
	}
}

// sendKnockRaw puts a signed knock to a's v1 send_knock as s, at the path
// of pathRoom (the event's own room when empty).
func sendKnockRaw(t *testing.T, s signer, a *peer, ev gomatrixserverlib.PDU, pathRoom string) (int, map[string]any) {
	t.Helper()
	if pathRoom == "" {
		pathRoom = ev.RoomID().String()
	}
	var body map[string]any
	_ = json.Unmarshal(ev.JSON(), &body)
	return craft(t, s, a, spec.ServerName(a.name), "PUT",
		"/_matrix/federation/v1/send_knock/"+url.PathEscape(pathRoom)+"/"+url.PathEscape(ev.EventID()), body, nil)
}

func makeKnockRaw(t *testing.T, s signer, a *peer, roomID, userID, query string) (int, map[string]any) {
	t.Helper()
	return craft(t, s, a, spec.ServerName(a.name), "GET",
		"/_matrix/federation/v1/make_knock/"+url.PathEscape(roomID)+"/"+url.PathEscape(userID)+query, nil, nil)
}

// A knock a test crafts and signs as a third server would, and the bad
// inputs of make_knock and send_knock: each gets the spec's (or
// Synapse's) error, never a 500.
// https://spec.matrix.org/v1.16/server-server-api/#put_matrixfederationv1send_knockroomideventid
func TestKnockOnTheWire(t *testing.T) {
	ctx := context.Background()
	knocksA := make(chan Knock, 20)
	n := newNetwork()
	a := newPeer(t, n, "hs-a.test", withKnocks(knocksA))
	c := newPeer(t, n, "hs-c.test")
	cs := signerOf(c)
	roomID := knockRoom(t, a, "10")
	other := knockRoom(t, a, "12")
	inviteOnly, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Name: "Closed"})
	if err != nil {
		t.Fatal(err)
	}

	// The good knock first: 200 with the room's stripped state.
	knock := signedMembership(t, c, a, roomID, "carol", "knock", func(p *gomatrixserverlib.ProtoEvent) {
		p.Content = spec.RawJSON(`{"membership":"knock","reason":"hello from C"}`)
	})
	code, body := sendKnockRaw(t, cs, a, knock, "")
	if code != 200 {
		t.Fatalf("send_knock: %d %v", code, body)
	}
	state, _ := body["knock_room_state"].([]any)
	types := map[string]bool{}
	for _, s := range state {
		if m, ok := s.(map[string]any); ok {
			types[m["type"].(string)] = true
		}
	}
	if !types["m.room.create"] || !types["m.room.join_rules"] || !types["m.room.name"] {
		t.Fatalf("knock_room_state lacks create, join rules or name: %v", body)
	}
	if k := waitKnock(t, knocksA, c.userID("carol"), KnockPending); k.Reason != "hello from C" || k.EventID != knock.EventID() {
		t.Fatalf("crafted knock as a sees it: %+v", k)
	}
	// The template carries origin and origin_server_ts.
	code, body = makeKnockRaw(t, cs, a, roomID, c.userID("erin"), "?ver=10")
	if ev, _ := body["event"].(map[string]any); code != 200 || ev["origin"] != a.name || ev["origin_server_ts"] == nil ||
		ev["content"].(map[string]any)["membership"] != "knock" || body["room_version"] != "10" {
		t.Fatalf("make_knock template: %d %v", code, body)
	}

	// Templates taken before the ban, and of other shapes, for send_knock.
	banned := signedMembership(t, c, a, roomID, "mallory", "knock", nil)
	notKnock := signedMembership(t, c, a, roomID, "frank", "knock", func(p *gomatrixserverlib.ProtoEvent) {
		p.Content = spec.RawJSON(`{"membership":"join"}`)
	})
	otherRoom := signedMembership(t, c, a, other, "grace", "knock", nil)
	notSender := signedMembership(t, c, a, roomID, "heidi", "knock", func(p *gomatrixserverlib.ProtoEvent) {
		sk := c.userID("ivan")
		p.StateKey = &sk
	})
	if err := a.srv.Ban(ctx, roomID, "alice", c.userID("mallory"), "spam"); err != nil {
		t.Fatal(err)
	}

	makeCases := map[string]struct {
		room, user, query string
		status            int
		errcode           string
	}{
		"join rule is invite":          {inviteOnly, c.userID("erin"), "?ver=10", 403, "M_FORBIDDEN"},
		"banned":                       {roomID, c.userID("mallory"), "?ver=10", 403, "M_FORBIDDEN"},
		"ver lacks the room's version": {roomID, c.userID("erin"), "?ver=11&ver=12", 400, "M_INCOMPATIBLE_ROOM_VERSION"},
		"no ver":                       {roomID, c.userID("erin"), "", 400, "M_MISSING_PARAM"},
		"user of another server":       {roomID, a.userID("zed"), "?ver=10", 403, "M_FORBIDDEN"},
		"unknown room":                 {"!nope:" + a.name, c.userID("erin"), "?ver=10", 404, "M_NOT_FOUND"},
	}
	for name, tc := range makeCases {
		t.Run("make_knock/"+name, func(t *testing.T) {
			code, body := makeKnockRaw(t, cs, a, tc.room, tc.user, tc.query)
			if code != tc.status || body["errcode"] != tc.errcode {
				t.Fatalf("%d %v, want %d %s", code, body, tc.status, tc.errcode)
			}
			if tc.errcode == "M_INCOMPATIBLE_ROOM_VERSION" && body["room_version"] != "10" {
				t.Fatalf("no room_version in %v", body)
			}
		})
	}

	sendCases := map[string]struct {
		ev      gomatrixserverlib.PDU
		path    string
		status  int
		errcode string
	}{
		"banned":                      {banned, "", 403, "M_FORBIDDEN"},
		"membership is join":          {notKnock, "", 400, "M_BAD_JSON"},
		"event for another room":      {otherRoom, roomID, 400, "M_BAD_JSON"},
		"state_key is not the sender": {notSender, "", 400, "M_BAD_JSON"},
	}
	for name, tc := range sendCases {
		t.Run("send_knock/"+name, func(t *testing.T) {
			code, body := sendKnockRaw(t, cs, a, tc.ev, tc.path)
			if code != tc.status || body["errcode"] != tc.errcode {
				t.Fatalf("%d %v, want %d %s", code, body, tc.status, tc.errcode)
			}
		})
	}
	t.Run("send_knock/not a member event", func(t *testing.T) {
		msg := message(t, a, roomID, "hi")
		code, body := sendKnockRaw(t, cs, a, msg, "")
		if code != 400 || body["errcode"] != "M_BAD_JSON" {
			t.Fatalf("%d %v, want 400 M_BAD_JSON", code, body)
		}
	})
	t.Run("send_knock/empty body", func(t *testing.T) {
		code, body := craft(t, cs, a, spec.ServerName(a.name), "PUT",
			"/_matrix/federation/v1/send_knock/"+url.PathEscape(roomID)+"/$x", nil, nil)
		if code != 400 || body["errcode"] != "M_NOT_JSON" {
			t.Fatalf("%d %v, want 400 M_NOT_JSON", code, body)
		}
	})
	if ks, _ := a.srv.Knocks(ctx, roomID); len(ks) != 1 || ks[0].UserID != c.userID("carol") {
		t.Fatalf("only carol's knock may be pending: %+v", ks)
	}
}
