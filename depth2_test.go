package homeserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// joinTemplate asks a for a make_join (or make_leave) template as p's user
// and signs it, with content changed by mod.
func signedMembership(t *testing.T, p, a *peer, roomID, user, kind string, mod func(*gomatrixserverlib.ProtoEvent)) gomatrixserverlib.PDU {
	t.Helper()
	uid := p.userID(user)
	code, body := craft(t, signerOf(p), a, spec.ServerName(a.name), "GET",
		"/_matrix/federation/v1/make_"+kind+"/"+url.PathEscape(roomID)+"/"+url.PathEscape(uid)+"?ver=10&ver=12", nil, nil)
	if code != 200 {
		t.Fatalf("make_%s: %d %v", kind, code, body)
	}
	raw, _ := json.Marshal(body["event"])
	var proto gomatrixserverlib.ProtoEvent
	if err := json.Unmarshal(raw, &proto); err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&proto)
	}
	id := p.srv.identity
	ev, err := gomatrixserverlib.MustGetRoomVersion(gomatrixserverlib.RoomVersion(body["room_version"].(string))).
		NewEventBuilderFromProtoEvent(&proto).Build(time.Now(), id.ServerName, id.KeyID, id.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func sendMembershipRaw(t *testing.T, p, a *peer, kind string, ev gomatrixserverlib.PDU, query string) (int, map[string]any) {
	t.Helper()
	var content map[string]any
	_ = json.Unmarshal(ev.JSON(), &content)
	return craft(t, signerOf(p), a, spec.ServerName(a.name), "PUT",
		"/_matrix/federation/v2/send_"+kind+"/"+url.PathEscape(ev.RoomID().String())+"/"+url.PathEscape(ev.EventID())+query, content, nil)
}

func TestSendJoinAndLeaveChecks(t *testing.T) {
	a, b, c, roomID := threeServers(t, "10")
	ctx := context.Background()
	sendState(t, a, roomID, "alice", "m.room.join_rules", "", map[string]string{"join_rule": "public"})

	t.Run("a leave sent to send_join is refused", func(t *testing.T) {
		ev := signedMembership(t, c, a, roomID, "dave", "join", func(p *gomatrixserverlib.ProtoEvent) {
			p.Content = spec.RawJSON(`{"membership":"leave"}`)
		})
		code, body := sendMembershipRaw(t, c, a, "join", ev, "")
		if code != 400 {
			t.Fatalf("got %d %v, want 400", code, body)
		}
	})
	t.Run("a state_key other than the sender is refused", func(t *testing.T) {
		ev := signedMembership(t, c, a, roomID, "dave", "join", func(p *gomatrixserverlib.ProtoEvent) {
			other := c.userID("erin")
			p.StateKey = &other
		})
		code, body := sendMembershipRaw(t, c, a, "join", ev, "")
		if code != 400 {
			t.Fatalf("got %d %v, want 400", code, body)
		}
	})
	t.Run("send_leave refuses a join", func(t *testing.T) {
		ev := signedMembership(t, c, a, roomID, "carol", "leave", func(p *gomatrixserverlib.ProtoEvent) {
			p.Content = spec.RawJSON(`{"membership":"join"}`)
		})
		code, body := sendMembershipRaw(t, c, a, "leave", ev, "")
		if code != 400 {
			t.Fatalf("got %d %v, want 400", code, body)
		}
	})
	t.Run("omit_members answers the full state", func(t *testing.T) {
		ev := signedMembership(t, c, a, roomID, "frank", "join", nil)
		code, body := sendMembershipRaw(t, c, a, "join", ev, "?omit_members=true")
		if code != 200 || body["members_omitted"] != false {
			t.Fatalf("got %d members_omitted=%v", code, body["members_omitted"])
		}
		members := 0
		for _, s := range body["state"].([]any) {
			if s.(map[string]any)["type"] == "m.room.member" {
				members++
			}
		}
		if members != 3 {
			t.Fatalf("state has %d members, want alice, bob and carol", members)
		}
	})
	t.Run("remote leave through us reaches the room", func(t *testing.T) {
		ev := signedMembership(t, c, a, roomID, "carol", "leave", nil)
		code, body := sendMembershipRaw(t, c, a, "leave", ev, "")
		if code != 200 {
			t.Fatalf("send_leave: %d %v", code, body)
		}
		waitMembership(t, b.memberships, c.userID("carol"), "leave")
	})
	t.Run("a banned user can neither make_join nor send_join", func(t *testing.T) {
		early := signedMembership(t, c, a, roomID, "mallory", "join", nil)
		sendState(t, a, roomID, "alice", "m.room.member", c.userID("mallory"), map[string]string{"membership": "ban", "reason": "spam"})
		uid := c.userID("mallory")
		code, body := craft(t, signerOf(c), a, spec.ServerName(a.name), "GET",
			"/_matrix/federation/v1/make_join/"+url.PathEscape(roomID)+"/"+url.PathEscape(uid)+"?ver=10", nil, nil)
		if code != 403 {
			t.Fatalf("make_join of a banned user: %d %v", code, body)
		}
		code, body = sendMembershipRaw(t, c, a, "join", early, "")
		if code != 403 {
			t.Fatalf("send_join of a banned user: %d %v", code, body)
		}
	})
	_ = ctx
}

func TestJoinRoomFailsOver(t *testing.T) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
	c := startPeer(t, n, "hs-c.test", dbPath(t, "c"))
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

func TestBackfillOnDemand(t *testing.T) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
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

func TestServeHistoryRespectsVisibility(t *testing.T) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
	ctx := context.Background()
	roomID, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	sendState(t, a, roomID, "alice", "m.room.history_visibility", "", map[string]string{"history_visibility": "joined"})
	secret, err := a.srv.SendMessage(ctx, roomID, "alice", "before bob joined")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, map[string]any) {
		return craft(t, signerOf(b), a, "hs-a.test", "GET", path, nil, nil)
	}
	code, body := get("/_matrix/federation/v1/event/" + url.PathEscape(secret))
	if code != http.StatusForbidden {
		t.Fatalf("a server with no member got %d %v", code, body)
	}
	if err := a.srv.Invite(ctx, roomID, "alice", b.userID("bob")); err != nil {
		t.Fatal(err)
	}
	waitInvite(t, b.invites, roomID)
	if err := b.srv.AcceptInvite(ctx, roomID, "bob"); err != nil {
		t.Fatal(err)
	}
	open, err := a.srv.SendMessage(ctx, roomID, "alice", "after bob joined")
	if err != nil {
		t.Fatal(err)
	}
	content := func(eventID string) map[string]any {
		code, body := get("/_matrix/federation/v1/event/" + url.PathEscape(eventID))
		if code != 200 {
			t.Fatalf("/event %s: %d %v", eventID, code, body)
		}
		return body["pdus"].([]any)[0].(map[string]any)["content"].(map[string]any)
	}
	if c := content(secret); c["body"] != nil {
		t.Errorf("history from before bob joined was served whole: %v", c)
	}
	if c := content(open); c["body"] != "after bob joined" {
		t.Errorf("history after bob joined was redacted: %v", c)
	}

	code, body = get("/_matrix/federation/v1/state_ids/" + url.PathEscape(roomID) + "?event_id=" + url.QueryEscape(open))
	if code != 200 || len(body["pdu_ids"].([]any)) < 6 || len(body["auth_chain_ids"].([]any)) == 0 {
		t.Fatalf("/state_ids: %d %v", code, body)
	}
	code, body = get("/_matrix/federation/v1/state/" + url.PathEscape(roomID) + "?event_id=" + url.QueryEscape(open))
	if code != 200 || len(body["pdus"].([]any)) < 6 {
		t.Fatalf("/state: %d %v", code, body)
	}
	code, body = get("/_matrix/federation/v1/event_auth/" + url.PathEscape(roomID) + "/" + url.PathEscape(open))
	if code != 200 || len(body["auth_chain"].([]any)) < 3 {
		t.Fatalf("/event_auth: %d %v", code, body)
	}
	code, body = get("/_matrix/federation/v1/backfill/" + url.PathEscape(roomID) + "?v=" + url.QueryEscape(open) + "&limit=3")
	pdus, _ := body["pdus"].([]any)
	if code != 200 || len(pdus) != 3 || pdus[0].(map[string]any)["event_id"] != nil && pdus[0].(map[string]any)["content"].(map[string]any)["body"] != "after bob joined" {
		t.Fatalf("/backfill: %d %v", code, body)
	}
	code, body = craft(t, signerOf(b), a, "hs-a.test", "POST", "/_matrix/federation/v1/get_missing_events/"+url.PathEscape(roomID),
		map[string]any{"earliest_events": []string{}, "latest_events": []string{open}, "limit": 5}, nil)
	evs, _ := body["events"].([]any)
	if code != 200 || len(evs) != 5 {
		t.Fatalf("/get_missing_events: %d %v", code, body)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].(map[string]any)["depth"].(float64) < evs[i-1].(map[string]any)["depth"].(float64) {
			t.Fatal("get_missing_events is not oldest first")
		}
	}
	code, body = get("/_matrix/federation/v1/state_ids/" + url.PathEscape(roomID))
	if code != 400 || body["errcode"] != "M_MISSING_PARAM" {
		t.Fatalf("/state_ids without event_id: %d %v", code, body)
	}
}

func TestLeave(t *testing.T) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
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

// TestParkedEventRecheckedWhenPrevArrives: an event whose prev event
// cannot be fetched (its origin is unreachable) is parked, not accepted;
// when the prev event arrives, both are taken in, in order.
func TestParkedEventRecheckedWhenPrevArrives(t *testing.T) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	// A stops talking to B; A's events pile up in its queue.
	a.srv.sender.Close()
	first, err := a.srv.SendMessage(ctx, roomID, "alice", "first")
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.srv.SendMessage(ctx, roomID, "alice", "second")
	if err != nil {
		t.Fatal(err)
	}
	firstEv, _ := a.srv.store.Event(ctx, first)
	secondEv, _ := a.srv.store.Event(ctx, second)
	// A is unreachable for gap filling while B receives only the second.
	n.mu.Lock()
	delete(n.addrs, "hs-a.test")
	n.mu.Unlock()
	// Deliver it by hand, signed by A, straight to B's listener.
	code, body := craft(t, signerOf(a), b, "hs-b.test", "PUT", "/_matrix/federation/v1/send/second-only",
		map[string]any{"origin": "hs-a.test", "origin_server_ts": 1, "pdus": []json.RawMessage{secondEv.JSON}}, nil)
	if code != 200 {
		t.Fatalf("/send: %d %v", code, body)
	}
	if r := body["pdus"].(map[string]any)[second].(map[string]any); r["error"] == nil {
		t.Fatalf("second was accepted without its prev event: %v", r)
	}
	got, err := b.srv.store.Event(ctx, second)
	if err != nil || got.Status.String() != "parked" {
		t.Fatalf("second is %v (%v), want parked", got.Status, err)
	}
	// The prev event arrives: both are taken in, first then second.
	n.mu.Lock()
	n.addrs["hs-a.test"] = a.addr
	n.mu.Unlock()
	code, body = craft(t, signerOf(a), b, "hs-b.test", "PUT", "/_matrix/federation/v1/send/first",
		map[string]any{"origin": "hs-a.test", "origin_server_ts": 1, "pdus": []json.RawMessage{firstEv.JSON}}, nil)
	if code != 200 {
		t.Fatalf("/send: %d %v", code, body)
	}
	waitMessage(t, b.messages, "first")
	waitMessage(t, b.messages, "second")
	got, _ = b.srv.store.Event(ctx, second)
	if got.Status.String() != "accepted" {
		t.Fatalf("second is %v after its prev arrived", got.Status)
	}
}

// TestServerACL: a server the room's ACL denies cannot send into it.
func TestServerACLEnforced(t *testing.T) {
	a, b, c, roomID := threeServers(t, "10")
	ctx := context.Background()
	sendState(t, a, roomID, "alice", "m.room.server_acl", "", map[string]any{"allow": []string{"*"}, "deny": []string{"hs-c.test"}})
	eventually(t, "b has the ACL", waitFor, func() error {
		_, err := b.srv.store.StateEvent(ctx, roomID, "m.room.server_acl", "")
		return err
	})
	id, err := c.srv.SendMessage(ctx, roomID, "carol", "from a denied server")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	for _, p := range []*peer{a, b} {
		if stored(t, p, id) {
			t.Errorf("%s stored an event from a server its ACL denies", p.name)
		}
	}
	code, body := craft(t, signerOf(c), a, "hs-a.test", "GET",
		"/_matrix/federation/v1/state_ids/"+url.PathEscape(roomID)+"?event_id="+url.QueryEscape(id), nil, nil)
	if code != 403 {
		t.Fatalf("a denied server read state: %d %v", code, body)
	}
	if _, err := b.srv.SendMessage(ctx, roomID, "bob", "allowed"); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, a.messages, "allowed")
}
