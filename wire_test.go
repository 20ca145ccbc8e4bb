package homeserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// What a test puts on the wire by hand, bypassing a Server's own client:
// signed (or unsigned, or tampered) requests, crafted PDUs, transactions
// and EDUs.

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

// signedRequest builds an X-Matrix signed request from s to dest, aimed
// at the peer's listener (whatever dest says).
func signedRequest(t *testing.T, s signer, to *peer, dest spec.ServerName, method, path string, content any) *http.Request {
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
	return req
}

// craft sends a signed request (see signedRequest), changed by tamper,
// and returns the status and the JSON object answered.
func craft(t *testing.T, s signer, to *peer, dest spec.ServerName, method, path string, content any, tamper func(*http.Request)) (int, map[string]any) {
	t.Helper()
	req := signedRequest(t, s, to, dest, method, path, content)
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

// raw sends an unsigned request with the given headers and decodes the
// answer as a JSON object.
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

// getJSON fetches a path from a peer without authentication.
func getJSON(t *testing.T, p *peer, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+p.addr+path, stringsReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = p.name
	resp, err := insecureClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func stringsReader(s string) io.Reader {
	if s == "" {
		return nil
	}
	return strings.NewReader(s)
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

// txn is a /send body carrying the PDUs.
func txn(evs ...gomatrixserverlib.PDU) map[string]any {
	pdus := []json.RawMessage{}
	for _, e := range evs {
		pdus = append(pdus, e.JSON())
	}
	return map[string]any{"origin": "x", "origin_server_ts": 1, "pdus": pdus}
}

// signedMembership asks a for a make_join (or make_leave) template as p's
// user and signs it, with content changed by mod.
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

// sendMembershipRaw puts a signed membership event to a's send_join (or
// send_leave) as p.
func sendMembershipRaw(t *testing.T, p, a *peer, kind string, ev gomatrixserverlib.PDU, query string) (int, map[string]any) {
	t.Helper()
	var content map[string]any
	_ = json.Unmarshal(ev.JSON(), &content)
	return craft(t, signerOf(p), a, spec.ServerName(a.name), "PUT",
		"/_matrix/federation/v2/send_"+kind+"/"+url.PathEscape(ev.RoomID().String())+"/"+url.PathEscape(ev.EventID())+query, content, nil)
}

// ephTxn is a /send body carrying only EDUs.
func ephTxn(edus ...any) map[string]any {
	return map[string]any{"origin": "x", "origin_server_ts": 1, "pdus": []any{}, "edus": edus}
}

func receiptEDU(roomID, userID, eventID string, ts int64) map[string]any {
	return map[string]any{"edu_type": "m.receipt", "content": map[string]any{roomID: map[string]any{"m.read": map[string]any{
		userID: map[string]any{"event_ids": []string{eventID}, "data": map[string]any{"ts": ts}}}}}}
}

func typingEDU(roomID, userID string, typing bool) map[string]any {
	return map[string]any{"edu_type": "m.typing", "content": map[string]any{"room_id": roomID, "user_id": userID, "typing": typing}}
}

// sendEDUs delivers EDUs to a peer in a /send signed by s. /send answers
// only after its EDUs are handled, so on return they have been judged.
func sendEDUs(t *testing.T, s signer, to *peer, txnID string, edus ...any) {
	t.Helper()
	code, body := craft(t, s, to, spec.ServerName(to.name), "PUT", "/_matrix/federation/v1/send/"+url.PathEscape(txnID), ephTxn(edus...), nil)
	if code != 200 {
		t.Fatalf("/send with EDUs: %d %v", code, body)
	}
}
