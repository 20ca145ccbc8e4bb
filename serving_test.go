package homeserver

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/storage/sqlite"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Serving other servers: keys and the notary, history by visibility,
// send_join and send_leave checks, server ACLs.

type serverKeys struct {
	ServerName    string                          `json:"server_name"`
	ValidUntilTS  int64                           `json:"valid_until_ts"`
	VerifyKeys    map[string]struct{ Key string } `json:"verify_keys"`
	OldVerifyKeys map[string]struct {
		Key       string
		ExpiredTS int64 `json:"expired_ts"`
	} `json:"old_verify_keys"`
	Signatures map[string]map[string]string `json:"signatures"`
}

// checkSelfSigned decodes a key response and checks each verify key signed it.
func checkSelfSigned(t *testing.T, raw []byte, server string) serverKeys {
	t.Helper()
	var k serverKeys
	if err := json.Unmarshal(raw, &k); err != nil {
		t.Fatalf("bad key response %s: %v", raw, err)
	}
	if k.ServerName != server {
		t.Fatalf("server_name %q, want %q", k.ServerName, server)
	}
	if len(k.VerifyKeys) != 1 {
		t.Fatalf("want one verify key, got %v", k.VerifyKeys)
	}
	for id, vk := range k.VerifyKeys {
		pub, err := base64.RawStdEncoding.DecodeString(vk.Key)
		if err != nil {
			t.Fatal(err)
		}
		if err := gomatrixserverlib.VerifyJSON(server, gomatrixserverlib.KeyID(id), ed25519.PublicKey(pub), raw); err != nil {
			t.Fatalf("response not self-signed by %s: %v", id, err)
		}
	}
	return k
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestKeyServer(t *testing.T) {
	a, b := twoPeers(t)

	code, raw := getJSON(t, a, "GET", "/_matrix/key/v2/server", "")
	if code != 200 {
		t.Fatalf("key server: %d %s", code, raw)
	}
	k := checkSelfSigned(t, raw, "hs-a.test")
	now := time.Now().UnixMilli()
	if k.ValidUntilTS <= now || k.ValidUntilTS > now+7*24*3600*1000 {
		t.Errorf("valid_until_ts %d not within the next 7 days", k.ValidUntilTS)
	}
	if k.OldVerifyKeys == nil {
		t.Error("old_verify_keys missing")
	}
	var firstKeyID string
	for id := range k.VerifyKeys {
		firstKeyID = id
	}

	t.Run("the key survives a restart", func(t *testing.T) {
		a.restart()
		_, raw := getJSON(t, a, "GET", "/_matrix/key/v2/server", "")
		k := checkSelfSigned(t, raw, "hs-a.test")
		if _, ok := k.VerifyKeys[firstKeyID]; !ok {
			t.Fatalf("key changed across restart: %v, had %s", k.VerifyKeys, firstKeyID)
		}
	})

	t.Run("notary GET and POST", func(t *testing.T) {
		for _, q := range []struct{ method, path, body string }{
			{"GET", "/_matrix/key/v2/query/hs-a.test", ""},
			{"POST", "/_matrix/key/v2/query", `{"server_keys":{"hs-a.test":{}}}`},
			{"POST", "/_matrix/key/v2/query", `{"server_keys":{"hs-a.test":{"` + firstKeyID + `":{"minimum_valid_until_ts":` + jsonInt(now+1000) + `}}}}`},
		} {
			code, raw := getJSON(t, b, q.method, q.path, q.body)
			if code != 200 {
				t.Fatalf("%s %s: %d %s", q.method, q.path, code, raw)
			}
			var res struct {
				ServerKeys []json.RawMessage `json:"server_keys"`
			}
			if err := json.Unmarshal(raw, &res); err != nil || len(res.ServerKeys) != 1 {
				t.Fatalf("%s %s: %s", q.method, q.path, raw)
			}
			k := checkSelfSigned(t, res.ServerKeys[0], "hs-a.test")
			if _, ok := k.Signatures["hs-b.test"]; !ok {
				t.Errorf("notary did not add its signature: %v", k.Signatures)
			}
		}
		cached, err := b.srv.store.RemoteKeys(context.Background(), "hs-a.test")
		if err != nil || len(cached) == 0 || len(cached[0].Response) == 0 {
			t.Fatalf("b did not cache a's keys with their response: %v %v", cached, err)
		}
	})

	t.Run("notary for an unreachable server answers an empty list", func(t *testing.T) {
		code, raw := getJSON(t, b, "GET", "/_matrix/key/v2/query/nowhere.test", "")
		if code != 200 || string(raw) != `{"server_keys":[]}` {
			t.Fatalf("%d %s", code, raw)
		}
	})

	t.Run("rotation publishes the old key", func(t *testing.T) {
		a.stop()
		st, err := sqlite.Open(context.Background(), a.dbPath)
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now().UnixMilli()
		if err := RotateSigningKey(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		st.Close()
		a.start()
		_, raw := getJSON(t, a, "GET", "/_matrix/key/v2/server", "")
		k := checkSelfSigned(t, raw, "hs-a.test")
		if _, ok := k.VerifyKeys[firstKeyID]; ok {
			t.Fatal("the expired key is still a verify key")
		}
		old, ok := k.OldVerifyKeys[firstKeyID]
		if !ok || old.ExpiredTS < before || old.ExpiredTS > time.Now().UnixMilli() {
			t.Fatalf("old_verify_keys = %v, want %s expired just now", k.OldVerifyKeys, firstKeyID)
		}
	})

	t.Run("well-known and version", func(t *testing.T) {
		code, raw := getJSON(t, a, "GET", "/.well-known/matrix/server", "")
		if code != 200 || string(raw) != `{"m.server":"hs-a.test"}` {
			t.Fatalf("%d %s", code, raw)
		}
		code, raw = getJSON(t, a, "GET", "/_matrix/federation/v1/version", "")
		if code != 200 || !json.Valid(raw) {
			t.Fatalf("%d %s", code, raw)
		}
	})
}

func TestServeHistoryRespectsVisibility(t *testing.T) {
	a, b := twoPeers(t)
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

// TestServerACLEnforced: a server the room's ACL denies cannot send into it.
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
