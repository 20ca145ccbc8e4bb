package homeserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Hostile input: unauthenticated or forged requests, malformed bodies and
// PDUs get the right answer, and the room stays intact.

func TestRequestAuthentication(t *testing.T) {
	a, b := twoPeers(t)
	roomID := sharedRoom(t, a, b, "10")
	ev := message(t, a, roomID, "should only be stored when authenticated")

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	good := signerOf(a)
	cases := map[string]struct {
		as     signer
		dest   spec.ServerName
		tamper func(*http.Request)
	}{
		"bad signature": {as: good, dest: "hs-b.test", tamper: func(r *http.Request) {
			h := r.Header.Get("Authorization")
			i := strings.Index(h, `sig="`) + 5
			c := byte('A')
			if h[i] == 'A' {
				c = 'B'
			}
			r.Header.Set("Authorization", h[:i]+string(c)+h[i+1:])
		}},
		"wrong destination":   {as: good, dest: "hs-c.test"},
		"unknown origin key":  {as: signer{name: "hs-a.test", keyID: "ed25519:notpublished", key: otherKey}, dest: "hs-b.test"},
		"key of another":      {as: signer{name: "hs-a.test", keyID: good.keyID, key: otherKey}, dest: "hs-b.test"},
		"unreachable origin":  {as: signer{name: "nowhere.test", keyID: "ed25519:x", key: otherKey}, dest: "hs-b.test"},
		"missing X-Matrix":    {as: good, dest: "hs-b.test", tamper: func(r *http.Request) { r.Header.Del("Authorization") }},
		"signed another path": {as: good, dest: "hs-b.test", tamper: func(r *http.Request) { r.URL.Path = "/_matrix/federation/v1/send/other" }},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			code, body := craft(t, c.as, b, c.dest, "PUT", "/_matrix/federation/v1/send/auth-"+strings.ReplaceAll(name, " ", "-"), txn(ev), c.tamper)
			if code != http.StatusUnauthorized || body["errcode"] != "M_UNAUTHORIZED" {
				t.Fatalf("got %d %v, want 401 M_UNAUTHORIZED", code, body)
			}
			if stored(t, b, ev.EventID()) {
				t.Fatal("the event was stored from an unauthenticated request")
			}
		})
	}
	t.Run("authenticated", func(t *testing.T) {
		code, body := craft(t, good, b, "hs-b.test", "PUT", "/_matrix/federation/v1/send/auth-good", txn(ev), nil)
		if code != http.StatusOK {
			t.Fatalf("got %d %v", code, body)
		}
		if !stored(t, b, ev.EventID()) {
			t.Fatal("the event of an authenticated request was not stored")
		}
	})
}

func TestSendWithForgedPDU(t *testing.T) {
	a, b := twoPeers(t)
	roomID := sharedRoom(t, a, b, "10")

	good1 := message(t, a, roomID, "good one")
	good2 := message(t, a, roomID, "good two")
	// The forgery claims alice's server and key ID but is signed by another key.
	_, forgeKey, _ := ed25519.GenerateKey(rand.Reader)
	v := gomatrixserverlib.MustGetRoomVersion("10")
	content, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": "forged"})
	forged, err := v.NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
		SenderID: a.userID("alice"), RoomID: roomID, Type: "m.room.message",
		PrevEvents: good1.PrevEventIDs(), AuthEvents: good1.AuthEventIDs(), Depth: good1.Depth(), Content: content,
	}).Build(time.Now(), "hs-a.test", a.srv.identity.KeyID, forgeKey)
	if err != nil {
		t.Fatal(err)
	}

	res, err := a.srv.client.SendTransaction(context.Background(), "hs-b.test", "forged-txn",
		[][]byte{good1.JSON(), forged.JSON(), good2.JSON()}, nil)
	if err != nil {
		t.Fatalf("/send must answer 200 even with a forged PDU: %v", err)
	}
	if r, ok := res.PDUs[forged.EventID()]; !ok || r.Error == "" {
		t.Errorf("forged PDU not reported with an error: %+v", res.PDUs)
	}
	for _, g := range []gomatrixserverlib.PDU{good1, good2} {
		if r, ok := res.PDUs[g.EventID()]; !ok || r.Error != "" {
			t.Errorf("good PDU %s: %+v", g.EventID(), r)
		}
		if !stored(t, b, g.EventID()) {
			t.Errorf("good PDU %s not stored", g.EventID())
		}
	}
	if stored(t, b, forged.EventID()) {
		t.Error("forged PDU is in the store")
	}
	waitMessage(t, b.messages, "good one")
	waitMessage(t, b.messages, "good two")
}

func TestMalformedInput(t *testing.T) {
	a, b := twoPeers(t)
	roomID := sharedRoom(t, a, b, "10")
	as := signerOf(a)
	xm := http.Header{"Authorization": {`X-Matrix origin="hs-a.test",destination="hs-b.test",key="ed25519:x",sig="abc"`},
		"Content-Type": {"application/json"}}

	check := func(t *testing.T, code int, body map[string]any, wantCode int, wantErr string) {
		t.Helper()
		if code != wantCode || body["errcode"] != wantErr {
			t.Fatalf("got %d %v, want %d %s", code, body, wantCode, wantErr)
		}
	}
	t.Run("not JSON", func(t *testing.T) {
		code, body := raw(t, b, "PUT", "/_matrix/federation/v1/send/x", []byte("{not json"), xm)
		check(t, code, body, 400, "M_NOT_JSON")
	})
	t.Run("wrong shape", func(t *testing.T) {
		code, body := craft(t, as, b, "hs-b.test", "PUT", "/_matrix/federation/v1/send/shape", map[string]any{"pdus": "x"}, nil)
		check(t, code, body, 400, "M_BAD_JSON")
	})
	t.Run("over the size limit", func(t *testing.T) {
		big := append([]byte(`{"pdus":[],"x":"`), bytes.Repeat([]byte("a"), 9<<20)...)
		big = append(big, '"', '}')
		code, body := raw(t, b, "PUT", "/_matrix/federation/v1/send/big", big, xm)
		check(t, code, body, 413, "M_TOO_LARGE")
	})
	t.Run("too many PDUs", func(t *testing.T) {
		pdus := make([]json.RawMessage, 51)
		for i := range pdus {
			pdus[i] = json.RawMessage(`{}`)
		}
		code, body := craft(t, as, b, "hs-b.test", "PUT", "/_matrix/federation/v1/send/51", map[string]any{"pdus": pdus}, nil)
		check(t, code, body, 400, "M_BAD_JSON")
	})
	t.Run("make_join unknown room", func(t *testing.T) {
		code, body := craft(t, as, b, "hs-b.test", "GET", "/_matrix/federation/v1/make_join/%21nope:hs-b.test/@carol:hs-a.test?ver=10", nil, nil)
		check(t, code, body, 404, "M_NOT_FOUND")
	})
	t.Run("send_join unknown room", func(t *testing.T) {
		code, body := craft(t, as, b, "hs-b.test", "PUT", "/_matrix/federation/v2/send_join/%21nope:hs-b.test/$abc", map[string]any{"type": "m.room.member"}, nil)
		check(t, code, body, 404, "M_NOT_FOUND")
	})
	t.Run("invite in unsupported version", func(t *testing.T) {
		code, body := craft(t, as, b, "hs-b.test", "PUT", "/_matrix/federation/v2/invite/%21r:hs-a.test/$e",
			map[string]any{"room_version": "1", "event": map[string]any{}}, nil)
		check(t, code, body, 400, "M_INCOMPATIBLE_ROOM_VERSION")
		if body["room_version"] != "1" {
			t.Errorf("room_version missing from %v", body)
		}
	})
	t.Run("PDUs that are garbage or in unknown rooms", func(t *testing.T) {
		ev := message(t, a, roomID, "x")
		var other map[string]any
		_ = json.Unmarshal(ev.JSON(), &other)
		other["room_id"] = "!unknown:hs-a.test"
		otherJSON, _ := json.Marshal(other)
		body := map[string]any{"pdus": []json.RawMessage{
			json.RawMessage(`{"room_id":5}`), json.RawMessage(`"string"`), json.RawMessage(`[]`), otherJSON,
			json.RawMessage(`{"room_id":"` + roomID + `","type":"m.room.message","depth":1.5}`),
		}}
		code, res := craft(t, as, b, "hs-b.test", "PUT", "/_matrix/federation/v1/send/garbage", body, nil)
		if code != 200 {
			t.Fatalf("got %d %v", code, res)
		}
	})
	t.Run("unknown path and wrong method", func(t *testing.T) {
		code, body := raw(t, b, "GET", "/_matrix/federation/v1/nonsense", nil, nil)
		check(t, code, body, 404, "M_UNRECOGNIZED")
		code, body = raw(t, b, "DELETE", "/_matrix/key/v2/server", nil, nil)
		check(t, code, body, 405, "M_UNRECOGNIZED")
	})
	// The room is intact and still federates.
	if _, err := a.srv.SendMessage(context.Background(), roomID, "alice", "still works"); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, b.messages, "still works")
}

// TestHostilePDUs: each gets the right answer and the room stays intact.
func TestHostilePDUs(t *testing.T) {
	a, b := twoPeers(t)
	roomID := sharedRoom(t, a, b, "10")
	ctx := context.Background()
	before, _ := roomSummary(t, b, roomID)
	v := gomatrixserverlib.MustGetRoomVersion("10")
	id := a.srv.identity
	good := message(t, a, roomID, "template")
	build := func(mod func(p *gomatrixserverlib.ProtoEvent)) gomatrixserverlib.PDU {
		t.Helper()
		content, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": "hostile"})
		proto := gomatrixserverlib.ProtoEvent{SenderID: a.userID("alice"), RoomID: roomID, Type: "m.room.message",
			PrevEvents: good.PrevEventIDs(), AuthEvents: good.AuthEventIDs(), Depth: good.Depth(), Content: content}
		mod(&proto)
		ev, err := v.NewEventBuilderFromProtoEvent(&proto).Build(time.Now(), id.ServerName, id.KeyID, id.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	unknown := make([]string, 1000)
	for i := range unknown {
		unknown[i] = fmt.Sprintf("$unknown%04d", i)
	}
	manyPrevs := build(func(p *gomatrixserverlib.ProtoEvent) { p.PrevEvents = unknown })
	shortKey := "k"
	topic := build(func(p *gomatrixserverlib.ProtoEvent) { p.Type = "m.room.topic"; p.StateKey = &shortKey })
	// gomatrixserverlib will not build it, so lengthen the key by hand.
	oversized := strings.Replace(string(topic.JSON()), `"state_key":"k"`, `"state_key":"`+strings.Repeat("k", 300)+`"`, 1)

	// A float is not canonical JSON in v10: sign a valid event, then put a
	// float in its content (the signature no longer matters: it must be
	// refused as bad JSON before anything else).
	floatJSON := strings.Replace(string(good.JSON()), `"depth":`+fmt.Sprint(good.Depth()), `"depth":`+fmt.Sprint(good.Depth())+`.5`, 1)

	// An event citing a rejected auth event: bob (power 0) tries to change
	// the power levels; that is rejected; then an event cites it.
	sk := ""
	plContent, _ := json.Marshal(map[string]any{"users": map[string]int{b.userID("bob"): 100}})
	forgedPL, err := gomatrixserverlib.MustGetRoomVersion("10").NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
		SenderID: b.userID("bob"), RoomID: roomID, Type: "m.room.power_levels", StateKey: &sk,
		PrevEvents: good.PrevEventIDs(), AuthEvents: good.AuthEventIDs(), Depth: good.Depth(), Content: plContent,
	}).Build(time.Now(), b.srv.identity.ServerName, b.srv.identity.KeyID, b.srv.identity.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.srv.client.SendTransaction(ctx, "hs-a.test", "rejected-pl", [][]byte{forgedPL.JSON()}, nil)
	if err != nil || res.PDUs[forgedPL.EventID()].Error == "" {
		t.Fatalf("a did not refuse bob's power grab: %+v %v", res, err)
	}
	citing := build(func(p *gomatrixserverlib.ProtoEvent) {
		p.SenderID = a.userID("alice")
		p.AuthEvents = append(slices.Clone(good.AuthEventIDs()), forgedPL.EventID())
	})
	// a stored the power grab as rejected; send the citing event to a.
	res, err = b.srv.client.SendTransaction(ctx, "hs-a.test", "cites-rejected", [][]byte{citing.JSON()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := res.PDUs[citing.EventID()]; !ok || r.Error == "" {
		t.Errorf("an event citing a rejected auth event was not refused: %+v", res.PDUs)
	}
	if ev, err := a.srv.store.Event(ctx, citing.EventID()); err == nil && ev.Status == storage.StatusAccepted {
		t.Error("an event citing a rejected auth event was stored as accepted")
	}

	cases := map[string][]byte{
		"1000 unknown prev_events": manyPrevs.JSON(),
		"oversized state_key":      []byte(oversized),
		"float in a v10 room":      []byte(floatJSON),
	}
	countEvents := func() int {
		evs, err := b.srv.store.RoomEvents(ctx, roomID, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			n := countEvents()
			res, err := a.srv.client.SendTransaction(ctx, "hs-b.test", "hostile-"+strings.ReplaceAll(name, " ", "-"), [][]byte{raw}, nil)
			if err != nil {
				t.Fatalf("/send must answer 200: %v", err)
			}
			for id, r := range res.PDUs {
				if r.Error == "" {
					t.Fatalf("%s accepted: %+v", id, r)
				}
				if stored(t, b, id) {
					ev, _ := b.srv.store.Event(ctx, id)
					if ev.Status == storage.StatusAccepted {
						t.Fatalf("%s stored as accepted", id)
					}
				}
			}
			if countEvents() != n {
				t.Fatal("the room gained an event")
			}
		})
	}
	after, _ := roomSummary(t, b, roomID)
	if after != before {
		t.Fatalf("hostile PDUs changed b's room state:\n%s\n--\n%s", before, after)
	}
	if _, err := a.srv.SendMessage(ctx, roomID, "alice", "still fine"); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, b.messages, "still fine")
}
