package homeserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

var insecureClient = &http.Client{
	Timeout:   20 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
}

// signer is whoever signs a crafted request.
type signer struct {
	name  spec.ServerName
	keyID gomatrixserverlib.KeyID
	key   ed25519.PrivateKey
}

func signerOf(p *peer) signer {
	id := p.srv.identity
	return signer{name: id.ServerName, keyID: id.KeyID, key: id.PrivateKey}
}

// craft builds an X-Matrix signed request from s to dest, then sends it to
// the peer's listener (whatever dest says).
func craft(t *testing.T, s signer, to *peer, dest spec.ServerName, method, path string, content any, tamper func(*http.Request)) (int, map[string]any) {
	t.Helper()
	fr := fclient.NewFederationRequest(method, s.name, dest, path)
	if content != nil {
		if err := fr.SetContent(content); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.Sign(s.name, s.keyID, s.key); err != nil {
		t.Fatal(err)
	}
	req, err := fr.HTTPRequest()
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Scheme = "https"
	req.URL.Host = to.addr
	req.Host = to.name
	if tamper != nil {
		tamper(req)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := insecureClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %q", req.Method, req.URL.Path, body)
	}
	return resp.StatusCode, out
}

func raw(t *testing.T, to *peer, method, path string, body []byte, header http.Header) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+to.addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = to.name
	for k, v := range header {
		req.Header[k] = v
	}
	return do(t, req)
}

// message builds (without storing) a message from alice on a.
func message(t *testing.T, a *peer, roomID, body string) gomatrixserverlib.PDU {
	t.Helper()
	ev, err := a.srv.rooms.BuildEvent(context.Background(), roomID, a.userID("alice"), "m.room.message", nil,
		map[string]any{"msgtype": "m.text", "body": body})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func stored(t *testing.T, p *peer, eventID string) bool {
	t.Helper()
	_, err := p.srv.store.Event(context.Background(), eventID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func txn(evs ...gomatrixserverlib.PDU) map[string]any {
	pdus := []json.RawMessage{}
	for _, e := range evs {
		pdus = append(pdus, e.JSON())
	}
	return map[string]any{"origin": "x", "origin_server_ts": 1, "pdus": pdus}
}

func TestRequestAuthentication(t *testing.T) {
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
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
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
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
	n := newNetwork()
	a := startPeer(t, n, "hs-a.test", dbPath(t, "a"))
	b := startPeer(t, n, "hs-b.test", dbPath(t, "b"))
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
