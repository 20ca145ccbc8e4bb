package homeserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// Federation endpoint hygiene (issue 13): templates, PDU format, v1
// send_join / send_leave, the E2EE endpoints peers call, dropped EDUs and
// timestamp_to_event.

// decodeObject decodes JSON keeping numbers exact.
func decodeObject(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// handSign hashes and signs a PDU given as a JSON object whatever its
// fields hold, as a third server would (gomatrixserverlib's builder will
// not build a broken event), and returns it with its event ID.
// https://spec.matrix.org/v1.16/server-server-api/#signing-events
func handSign(t *testing.T, s signer, version string, ev map[string]any) (json.RawMessage, string) {
	t.Helper()
	v := gomatrixserverlib.MustGetRoomVersion(gomatrixserverlib.RoomVersion(version))
	canonical := func(m any) []byte {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		c, err := gomatrixserverlib.CanonicalJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, k := range []string{"hashes", "signatures", "unsigned", "event_id"} {
		delete(ev, k)
	}
	sum := sha256.Sum256(canonical(ev))
	ev["hashes"] = map[string]string{"sha256": base64.RawStdEncoding.EncodeToString(sum[:])}
	redacted, err := v.RedactEventJSON(canonical(ev))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := gomatrixserverlib.SignJSON(string(s.name), s.keyID, s.key, redacted)
	if err != nil {
		t.Fatal(err)
	}
	ev["signatures"] = json.RawMessage(gjson.GetBytes(signed, "signatures").Raw)
	out := canonical(ev)
	// The reference hash: the redacted event without signatures.
	refd := decodeObject(t, redacted)
	delete(refd, "signatures")
	ref := sha256.Sum256(canonical(refd))
	return out, "$" + base64.RawURLEncoding.EncodeToString(ref[:])
}

// makeTemplate asks a for a make_join or make_leave template for user of p.
func makeTemplate(t *testing.T, p, a *peer, roomID, user, kind string) (map[string]any, string) {
	t.Helper()
	code, body := craft(t, signerOf(p), a, spec.ServerName(a.name), "GET",
		"/_matrix/federation/v1/make_"+kind+"/"+url.PathEscape(roomID)+"/"+url.PathEscape(p.userID(user))+"?ver=10&ver=11&ver=12", nil, nil)
	if code != 200 {
		t.Fatalf("make_%s: %d %v", kind, code, body)
	}
	raw, _ := json.Marshal(body["event"])
	return decodeObject(t, raw), body["room_version"].(string)
}

// putSend puts a signed event to a's send_join or send_leave (v1 or v2).
func putSend(t *testing.T, p, a *peer, api, kind string, raw json.RawMessage, roomID, eventID string) (int, []byte) {
	t.Helper()
	return craftRaw(t, signerOf(p), a, "PUT", "/_matrix/federation/"+api+"/send_"+kind+"/"+url.PathEscape(roomID)+"/"+url.PathEscape(eventID), raw)
}

// craftRaw sends an X-Matrix signed request from s to the peer and
// returns the status and the raw answer (which may be a JSON array).
func craftRaw(t *testing.T, s signer, to *peer, method, path string, content json.RawMessage) (int, []byte) {
	t.Helper()
	var c any
	if content != nil {
		c = content
	}
	req := signedRequest(t, s, to, spec.ServerName(to.name), method, path, c)
	resp, err := insecureClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestMembershipTemplatesCarryOrigin: make_join and make_leave templates
// carry origin and origin_server_ts, and a join a third party builds by
// copying the template as it is (as Rocket.Chat does) verifies and is
// accepted.
func TestMembershipTemplatesCarryOrigin(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	for _, version := range []string{"10", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			roomID, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Public: true, Version: version})
			if err != nil {
				t.Fatal(err)
			}
			for _, kind := range []string{"join", "leave"} {
				tpl, v := makeTemplate(t, b, a, roomID, "dave", kind)
				if v != version {
					t.Fatalf("room_version %q", v)
				}
				if tpl["origin"] != a.name {
					t.Errorf("make_%s template origin = %v, want %s", kind, tpl["origin"], a.name)
				}
				ts, err := tpl["origin_server_ts"].(json.Number).Int64()
				if err != nil || time.Since(time.UnixMilli(ts)).Abs() > time.Minute {
					t.Errorf("make_%s template origin_server_ts = %v, want now in ms", kind, tpl["origin_server_ts"])
				}
			}
			tpl, _ := makeTemplate(t, b, a, roomID, "dave", "join")
			raw, eventID := handSign(t, signerOf(b), version, tpl)
			code, body := putSend(t, b, a, "v2", "join", raw, roomID, eventID)
			if code != 200 {
				t.Fatalf("send_join of the copied template: %d %s", code, body)
			}
			ev, err := a.srv.store.Event(ctx, eventID)
			if err != nil || ev.Status != storage.StatusAccepted {
				t.Fatalf("the join is not stored as accepted: %+v %v", ev, err)
			}
		})
	}
}

// TestInboundPDUFormat: a correctly signed PDU missing origin_server_ts,
// or with it as a string or a float (or another required field broken),
// is refused by /send under its event ID and by send_join, and never
// stored as accepted.
// https://spec.matrix.org/v1.16/rooms/v10/#event-format
func TestInboundPDUFormat(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	good, err := b.srv.rooms.BuildEvent(ctx, roomID, b.userID("bob"), "m.room.message", nil,
		map[string]any{"msgtype": "m.text", "body": "broken"})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(ev map[string]any){
		"no origin_server_ts":       func(ev map[string]any) { delete(ev, "origin_server_ts") },
		"origin_server_ts a string": func(ev map[string]any) { ev["origin_server_ts"] = "1700000000000" },
		"origin_server_ts a float":  func(ev map[string]any) { ev["origin_server_ts"] = json.Number("1700000000000.5") },
		"no depth":                  func(ev map[string]any) { delete(ev, "depth") },
		"no type":                   func(ev map[string]any) { delete(ev, "type") },
		"no content":                func(ev map[string]any) { delete(ev, "content") },
	}
	i := 0
	for name, breakIt := range cases {
		t.Run("/send: "+name, func(t *testing.T) {
			i++
			ev := decodeObject(t, good.JSON())
			breakIt(ev)
			raw, eventID := handSign(t, signerOf(b), "10", ev)
			code, body := craft(t, signerOf(b), a, spec.ServerName(a.name), "PUT",
				"/_matrix/federation/v1/send/broken-"+string(rune('a'+i)), map[string]any{"origin": b.name, "origin_server_ts": 1, "pdus": []json.RawMessage{raw}}, nil)
			if code != 200 {
				t.Fatalf("/send must answer 200: %d %v", code, body)
			}
			res, _ := body["pdus"].(map[string]any)[eventID].(map[string]any)
			if res == nil || res["error"] == nil || res["error"] == "" {
				t.Fatalf("no per-PDU error for %s: %v", eventID, body)
			}
			if ev, err := a.srv.store.Event(ctx, eventID); err == nil && ev.Status == storage.StatusAccepted {
				t.Fatal("stored as accepted")
			}
		})
	}
	sendState(t, a, roomID, "alice", "m.room.join_rules", "", map[string]string{"join_rule": "public"})
	for name, breakIt := range cases {
		t.Run("send_join: "+name, func(t *testing.T) {
			tpl, _ := makeTemplate(t, b, a, roomID, "erin", "join")
			breakIt(tpl)
			raw, eventID := handSign(t, signerOf(b), "10", tpl)
			code, body := putSend(t, b, a, "v2", "join", raw, roomID, eventID)
			if code != 400 || gjson.GetBytes(body, "errcode").Str != "M_BAD_JSON" {
				t.Fatalf("got %d %s, want 400 M_BAD_JSON", code, body)
			}
			if _, err := a.srv.store.Event(ctx, eventID); err == nil {
				t.Fatal("the broken join was stored")
			}
		})
	}
}

// TestSendJoinAndLeaveV1: the v1 endpoints run the v2 checks and answer
// [200, {...}].
// https://spec.matrix.org/v1.16/server-server-api/#put_matrixfederationv1send_joinroomideventid
func TestSendJoinAndLeaveV1(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Public: true, Version: "10"})
	if err != nil {
		t.Fatal(err)
	}
	send := func(kind string, ev gomatrixserverlib.PDU) (int, []byte) {
		t.Helper()
		return putSend(t, b, a, "v1", kind, ev.JSON(), roomID, ev.EventID())
	}
	refused := map[string]struct {
		kind, as, template string
		mod                func(p *gomatrixserverlib.ProtoEvent)
		status             int
	}{
		"a leave sent to send_join": {"join", "dave", "join", func(p *gomatrixserverlib.ProtoEvent) {
			p.Content = spec.RawJSON(`{"membership":"leave"}`)
		}, 400},
		"a state_key other than the sender": {"join", "dave", "join", func(p *gomatrixserverlib.ProtoEvent) {
			other := b.userID("erin")
			p.StateKey = &other
		}, 400},
		"a join sent to send_leave": {"leave", "dave", "leave", func(p *gomatrixserverlib.ProtoEvent) {
			p.Content = spec.RawJSON(`{"membership":"join"}`)
		}, 400},
	}
	for name, c := range refused {
		t.Run(name, func(t *testing.T) {
			ev := signedMembership(t, b, a, roomID, c.as, c.template, c.mod)
			code, body := send(c.kind, ev)
			if code != c.status || gjson.GetBytes(body, "errcode").Str == "" {
				t.Fatalf("got %d %s, want %d with an errcode", code, body, c.status)
			}
		})
	}
	t.Run("a join answers [200, {origin, state, auth_chain}]", func(t *testing.T) {
		ev := signedMembership(t, b, a, roomID, "frank", "join", nil)
		code, body := send("join", ev)
		res := gjson.ParseBytes(body)
		if code != 200 || !res.IsArray() || res.Get("0").Int() != 200 || res.Get("1.origin").Str != a.name {
			t.Fatalf("got %d %s", code, body)
		}
		if !res.Get(`1.state.#(type=="m.room.create")`).Exists() || len(res.Get("1.auth_chain").Array()) == 0 {
			t.Fatalf("no state or auth chain: %s", body)
		}
		if s, err := a.srv.store.Event(ctx, ev.EventID()); err != nil || s.Status != storage.StatusAccepted {
			t.Fatalf("join not accepted: %+v %v", s, err)
		}
	})
	t.Run("a leave answers [200, {}]", func(t *testing.T) {
		ev := signedMembership(t, b, a, roomID, "frank", "leave", nil)
		code, body := send("leave", ev)
		if code != 200 || string(body) != `[200,{}]` {
			t.Fatalf("got %d %s", code, body)
		}
		waitMembership(t, a.memberships, b.userID("frank"), "leave")
	})
	t.Run("a banned user cannot join", func(t *testing.T) {
		early := signedMembership(t, b, a, roomID, "mallory", "join", nil)
		sendState(t, a, roomID, "alice", "m.room.member", b.userID("mallory"), map[string]string{"membership": "ban"})
		code, body := send("join", early)
		if code != 403 {
			t.Fatalf("send_join of a banned user: %d %s", code, body)
		}
	})
}

// TestDevicesAndKeysEndpoints: /user/devices, /user/keys/query and
// /user/keys/claim answer with the spec's shapes and no devices or keys,
// for the users the host says exist.
func TestDevicesAndKeysEndpoints(t *testing.T) {
	n := newNetwork()
	a := newPeer(t, n, "hs-a.test", withConfig(func(c *Config) {
		c.UserExists = func(_ context.Context, local string) (bool, error) { return local == "alice", nil }
	}))
	b := newPeer(t, n, "hs-b.test") // no UserExists: every user of b exists
	ask := func(to *peer, method, path string, content string) (int, gjson.Result) {
		t.Helper()
		var c json.RawMessage
		if content != "" {
			c = json.RawMessage(content)
		}
		from := b
		if to == b {
			from = a
		}
		code, body := craftRaw(t, signerOf(from), to, method, path, c)
		return code, gjson.ParseBytes(body)
	}
	devices := func(user string) string { return "/_matrix/federation/v1/user/devices/" + url.PathEscape(user) }
	cases := map[string]struct {
		to            *peer
		method, path  string
		body          string
		status        int
		errcode, want string // want: a gjson path that must exist
	}{
		"devices of a known user":          {a, "GET", devices("@alice:hs-a.test"), "", 200, "", `devices`},
		"devices of an unknown user":       {a, "GET", devices("@nobody:hs-a.test"), "", 404, "M_NOT_FOUND", ""},
		"devices of another server's user": {a, "GET", devices("@bob:hs-b.test"), "", 400, "M_INVALID_PARAM", ""},
		"devices of a bad user ID":         {a, "GET", devices("not-a-user"), "", 404, "M_NOT_FOUND", ""},
		"devices with no UserExists":       {b, "GET", devices("@anyone:hs-b.test"), "", 200, "", `devices`},
		"keys of a known user":             {a, "POST", "/_matrix/federation/v1/user/keys/query", `{"device_keys":{"@alice:hs-a.test":[]}}`, 200, "", `device_keys.@alice:hs-a\.test`},
		"keys of known and unknown users":  {a, "POST", "/_matrix/federation/v1/user/keys/query", `{"device_keys":{"@alice:hs-a.test":[],"@nobody:hs-a.test":["D"]}}`, 200, "", `device_keys.@alice:hs-a\.test`},
		"keys of an unknown user":          {a, "POST", "/_matrix/federation/v1/user/keys/query", `{"device_keys":{"@nobody:hs-a.test":[]}}`, 404, "M_NOT_FOUND", ""},
		"keys of another server's user":    {a, "POST", "/_matrix/federation/v1/user/keys/query", `{"device_keys":{"@bob:hs-b.test":[]}}`, 400, "M_INVALID_PARAM", ""},
		"keys query without users":         {a, "POST", "/_matrix/federation/v1/user/keys/query", `{}`, 400, "M_MISSING_PARAM", ""},
		"keys query of the wrong shape":    {a, "POST", "/_matrix/federation/v1/user/keys/query", `{"device_keys":[1]}`, 400, "M_BAD_JSON", ""},
		"claim one-time keys":              {a, "POST", "/_matrix/federation/v1/user/keys/claim", `{"one_time_keys":{"@alice:hs-a.test":{"D":"signed_curve25519"}}}`, 200, "", `one_time_keys`},
		"claim for another server's user":  {a, "POST", "/_matrix/federation/v1/user/keys/claim", `{"one_time_keys":{"@bob:hs-b.test":{"D":"signed_curve25519"}}}`, 400, "M_INVALID_PARAM", ""},
		"claim of the wrong shape":         {a, "POST", "/_matrix/federation/v1/user/keys/claim", `{"one_time_keys":"x"}`, 400, "M_BAD_JSON", ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			code, body := ask(c.to, c.method, c.path, c.body)
			if code != c.status || body.Get("errcode").Str != c.errcode {
				t.Fatalf("got %d %s, want %d %s", code, body.Raw, c.status, c.errcode)
			}
			if c.want != "" && !body.Get(c.want).Exists() {
				t.Fatalf("%s missing from %s", c.want, body.Raw)
			}
		})
	}
	t.Run("exact shapes", func(t *testing.T) {
		_, body := ask(a, "GET", devices("@alice:hs-a.test"), "")
		if body.Raw != `{"devices":[],"stream_id":0,"user_id":"@alice:hs-a.test"}` {
			t.Errorf("devices: %s", body.Raw)
		}
		_, body = ask(a, "POST", "/_matrix/federation/v1/user/keys/query", `{"device_keys":{"@alice:hs-a.test":[],"@nobody:hs-a.test":[]}}`)
		if body.Raw != `{"device_keys":{"@alice:hs-a.test":{}},"master_keys":{},"self_signing_keys":{}}` {
			t.Errorf("keys/query: %s", body.Raw)
		}
		_, body = ask(a, "POST", "/_matrix/federation/v1/user/keys/claim", `{"one_time_keys":{}}`)
		if body.Raw != `{"one_time_keys":{}}` {
			t.Errorf("keys/claim: %s", body.Raw)
		}
	})
}

// TestE2EEEDUsDropped: m.direct_to_device, m.device_list_update and
// m.signing_key_update EDUs are accepted and dropped; the transaction
// carrying them succeeds and its other EDUs are still handled.
func TestE2EEEDUsDropped(t *testing.T) {
	a, b := twoPeers(t)
	roomID := sharedRoom(t, a, b, "10")
	bob := b.userID("bob")
	code, body := craft(t, signerOf(b), a, spec.ServerName(a.name), "PUT", "/_matrix/federation/v1/send/e2ee-edus", ephTxn(
		map[string]any{"edu_type": "m.direct_to_device", "content": map[string]any{"sender": bob, "type": "m.room_key_request", "message_id": "m1",
			"messages": map[string]any{a.userID("alice"): map[string]any{"*": map[string]any{}}}}},
		map[string]any{"edu_type": "m.device_list_update", "content": map[string]any{"user_id": bob, "device_id": "D", "stream_id": 1, "prev_id": []int{}, "deleted": false}},
		map[string]any{"edu_type": "m.signing_key_update", "content": map[string]any{"user_id": bob}},
		map[string]any{"edu_type": "m.device_list_update", "content": "not even an object"},
		typingEDU(roomID, bob, true),
	), nil)
	if code != 200 {
		t.Fatalf("/send with E2EE EDUs: %d %v", code, body)
	}
	if pdus, ok := body["pdus"].(map[string]any); !ok || len(pdus) != 0 {
		t.Fatalf("answer %v, want empty pdus", body)
	}
	expect(t, "bob's typing, after the dropped EDUs", a.typing, func(ty Typing) bool { return ty.UserID == bob && ty.Typing })
}

// TestTimestampToEvent: the closest event at or after (dir=f) or at or
// before (dir=b) a timestamp; 404 when there is none; 400 for a bad ts or
// dir; only for a server in the room.
// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1timestamp_to_eventroomid
func TestTimestampToEvent(t *testing.T) {
	a, b, c := threePeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "10")
	var ids []string
	var tss []int64
	for _, body := range []string{"one", "two", "three"} {
		time.Sleep(5 * time.Millisecond) // distinct timestamps
		id := say(t, a, b, roomID, "alice", body)
		ev, err := a.srv.store.Event(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		ids, tss = append(ids, id), append(tss, ev.OriginServerTS)
		time.Sleep(5 * time.Millisecond)
	}
	first, err := a.srv.store.RoomEvents(ctx, roomID, 0, 1)
	if err != nil || len(first) != 1 {
		t.Fatal(err)
	}
	path := func(room, query string) string {
		return "/_matrix/federation/v1/timestamp_to_event/" + url.PathEscape(room) + "?" + query
	}
	q := func(ts int64, dir string) string { return "ts=" + strconv.FormatInt(ts, 10) + "&dir=" + dir }
	cases := map[string]struct {
		from    *peer
		path    string
		status  int
		errcode string
		eventID string
	}{
		"forward from the start is the create event": {b, path(roomID, q(0, "f")), 200, "", first[0].EventID},
		"forward at a message's ts":                  {b, path(roomID, q(tss[1], "f")), 200, "", ids[1]},
		"forward just after a message":               {b, path(roomID, q(tss[1]+1, "f")), 200, "", ids[2]},
		"backward at a message's ts":                 {b, path(roomID, q(tss[1], "b")), 200, "", ids[1]},
		"backward just before a message":             {b, path(roomID, q(tss[1]-1, "b")), 200, "", ids[0]},
		"backward from the future is the last":       {b, path(roomID, q(tss[2]+3600_000, "b")), 200, "", ids[2]},
		"forward into the future: none":              {b, path(roomID, q(tss[2]+3600_000, "f")), 404, "M_NOT_FOUND", ""},
		"backward before the room: none":             {b, path(roomID, q(1, "b")), 404, "M_NOT_FOUND", ""},
		"bad dir":                                    {b, path(roomID, "ts=1&dir=x"), 400, "M_INVALID_PARAM", ""},
		"no dir":                                     {b, path(roomID, "ts=1"), 400, "M_INVALID_PARAM", ""},
		"ts not a number":                            {b, path(roomID, "ts=soon&dir=f"), 400, "M_INVALID_PARAM", ""},
		"no ts":                                      {b, path(roomID, "dir=f"), 400, "M_INVALID_PARAM", ""},
		"a server not in the room":                   {c, path(roomID, q(0, "f")), 403, "M_FORBIDDEN", ""},
		"an unknown room":                            {b, path("!nope:hs-a.test", q(0, "f")), 404, "M_NOT_FOUND", ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, body := craft(t, signerOf(tc.from), a, spec.ServerName(a.name), "GET", tc.path, nil, nil)
			if code != tc.status || (tc.errcode != "" && body["errcode"] != tc.errcode) {
				t.Fatalf("got %d %v, want %d %s", code, body, tc.status, tc.errcode)
			}
			if tc.eventID != "" && body["event_id"] != tc.eventID {
				t.Fatalf("event_id %v, want %s", body["event_id"], tc.eventID)
			}
			if tc.eventID != "" {
				if _, ok := body["origin_server_ts"].(float64); !ok {
					t.Fatalf("no origin_server_ts: %v", body)
				}
			}
		})
	}
	t.Run("the room's ACL applies", func(t *testing.T) {
		sendState(t, a, roomID, "alice", "m.room.server_acl", "", map[string]any{"allow": []string{"*"}, "deny": []string{b.name}})
		code, body := craft(t, signerOf(b), a, spec.ServerName(a.name), "GET", path(roomID, q(0, "f")), nil, nil)
		if code != 403 {
			t.Fatalf("got %d %v, want 403", code, body)
		}
	})
}
