package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// node is one chatd under test, on its own HTTPS listener on 127.0.0.1,
// with an HTTP client that trusts the certificate it generated.
type node struct {
	t      *testing.T
	app    *App
	cfg    Config
	client *http.Client
}

// startNode runs chatd with the given local users; its server name is its
// loopback address, so no resolver is needed.
func startNode(t *testing.T, users ...string) *node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		DB:                 filepath.Join(t.TempDir(), "chatd.db"),
		Users:              users,
		InsecureSkipVerify: true, // the peers' certificates are self-signed
		Listener:           ln,
		TypingTimeout:      3 * time.Second,
	}
	if os.Getenv("CHATD_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n := &node{t: t, cfg: cfg}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *node) start() {
	n.t.Helper()
	app, err := run(context.Background(), n.cfg)
	if err != nil {
		n.t.Fatalf("run chatd: %v", err)
	}
	n.app = app
	pem, err := os.ReadFile(sidecar(n.cfg.DB, ".tls.crt"))
	if err != nil {
		n.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		n.t.Fatal("generated certificate does not parse")
	}
	n.client = &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true},
	}
}

// stop closes chatd (idempotent).
func (n *node) stop() {
	if n.app == nil {
		return
	}
	if err := n.app.Close(); err != nil {
		n.t.Errorf("close %s: %v", n.app.ServerName(), err)
	}
	n.client.CloseIdleConnections()
	n.app = nil
}

// restart stops chatd and runs it again on the same address and files.
func (n *node) restart() {
	n.t.Helper()
	addr := n.app.Addr()
	n.stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		n.t.Fatalf("listen again on %s: %v", addr, err)
	}
	n.cfg.Listener = ln
	n.start()
}

func (n *node) name() string { return n.app.ServerName() }

// id is the full Matrix ID of a local user.
func (n *node) id(user string) string { return "@" + user + ":" + n.name() }

func (n *node) url(path string) string { return "https://" + n.app.Addr() + path }

// roomPath is an API path for a room, its ID URL-escaped.
func roomPath(roomID, rest string) string {
	return "/api/rooms/" + url.PathEscape(roomID) + rest
}

// reply is an API answer.
type reply struct {
	status int
	body   []byte
}

// do calls the API as user ("" sends no X-User). body is JSON-encoded
// unless it is a string or []byte, which are sent as they are.
func (n *node) do(method, path, user string, body any) reply {
	n.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			n.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, n.url(path), rd)
	if err != nil {
		n.t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("X-User", user)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := n.client.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		n.t.Fatal(err)
	}
	return reply{status: res.StatusCode, body: raw}
}

// must calls the API and fails the test unless the status is want; it
// decodes the answer into out when out is not nil.
func (n *node) must(want int, method, path, user string, body, out any) {
	n.t.Helper()
	r := n.do(method, path, user, body)
	if r.status != want {
		n.t.Fatalf("%s %s as %q: status %d, want %d: %s", method, path, user, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			n.t.Fatalf("%s %s: decode %s: %v", method, path, r.body, err)
		}
	}
}

// refused calls the API and checks it answers with status and errcode,
// in exactly the {"errcode","error"} shape.
func (n *node) refused(status int, errcode, method, path, user string, body any) {
	n.t.Helper()
	r := n.do(method, path, user, body)
	var e map[string]any
	if err := json.Unmarshal(r.body, &e); err != nil {
		n.t.Fatalf("%s %s: error body %q is not JSON", method, path, r.body)
	}
	msg, _ := e["error"].(string)
	if r.status != status || e["errcode"] != errcode || msg == "" {
		n.t.Fatalf("%s %s as %q: got %d %s, want %d %s", method, path, user, r.status, r.body, status, errcode)
	}
}

// API shapes, as the table names them.
type (
	roomEntryJSON struct {
		RoomID      string `json:"room_id"`
		Kind        string `json:"kind"`
		Name        string `json:"name"`
		Topic       string `json:"topic"`
		Origin      string `json:"origin"`
		Membership  string `json:"membership"`
		InviteState string `json:"invite_state"`
	}
	memberJSON struct {
		UserID      string `json:"user_id"`
		Membership  string `json:"membership"`
		InviteState string `json:"invite_state"`
		Role        string `json:"role"`
	}
	roomJSON struct {
		RoomID      string       `json:"room_id"`
		Kind        string       `json:"kind"`
		Name        string       `json:"name"`
		Topic       string       `json:"topic"`
		Origin      string       `json:"origin"`
		RoomVersion string       `json:"room_version"`
		Members     []memberJSON `json:"members"`
		Banned      []struct {
			UserID string `json:"user_id"`
			Reason string `json:"reason"`
		} `json:"banned"`
		Typing []string `json:"typing"`
	}
	messageJSON struct {
		EventID       string         `json:"event_id"`
		Sender        string         `json:"sender"`
		Body          string         `json:"body"`
		TS            int64          `json:"ts"`
		MsgType       string         `json:"msgtype"`
		FormattedBody string         `json:"formatted_body"`
		Edited        bool           `json:"edited"`
		EditedTS      int64          `json:"edited_ts"`
		Deleted       bool           `json:"deleted"`
		ReplyTo       string         `json:"reply_to"`
		ThreadRoot    string         `json:"thread_root"`
		Reactions     []reactionJSON `json:"reactions"`
		ReadBy        []struct {
			UserID string `json:"user_id"`
			TS     int64  `json:"ts"`
		} `json:"read_by"`
	}
)

type reactionJSON struct {
	Key   string   `json:"key"`
	Count int      `json:"count"`
	Users []string `json:"users"`
}

func (n *node) rooms(user string) []roomEntryJSON {
	n.t.Helper()
	var out []roomEntryJSON
	n.must(http.StatusOK, "GET", "/api/rooms", user, nil, &out)
	return out
}

func (n *node) room(user, roomID string) roomJSON {
	n.t.Helper()
	var out roomJSON
	n.must(http.StatusOK, "GET", roomPath(roomID, ""), user, nil, &out)
	return out
}

func (n *node) messages(user, roomID string) []messageJSON {
	n.t.Helper()
	var out []messageJSON
	n.must(http.StatusOK, "GET", roomPath(roomID, "/messages"), user, nil, &out)
	return out
}

func (n *node) send(user, roomID, body string) string {
	n.t.Helper()
	var out struct {
		EventID string `json:"event_id"`
	}
	n.must(http.StatusOK, "POST", roomPath(roomID, "/messages"), user, map[string]string{"body": body}, &out)
	if !strings.HasPrefix(out.EventID, "$") {
		n.t.Fatalf("event_id %q is not a Matrix event ID", out.EventID)
	}
	return out.EventID
}

// create makes a room and returns its ID.
func (n *node) create(user string, req map[string]any) string {
	n.t.Helper()
	var out struct {
		RoomID string `json:"room_id"`
	}
	n.must(http.StatusCreated, "POST", "/api/rooms", user, req, &out)
	if !strings.HasPrefix(out.RoomID, "!") {
		n.t.Fatalf("room_id %q is not a Matrix room ID", out.RoomID)
	}
	return out.RoomID
}

// member returns a user's line in a room's member list.
func (r roomJSON) member(userID string) (memberJSON, bool) {
	for _, m := range r.Members {
		if m.UserID == userID {
			return m, true
		}
	}
	return memberJSON{}, false
}

func (n *node) entry(user, roomID string) (roomEntryJSON, bool) {
	n.t.Helper()
	for _, e := range n.rooms(user) {
		if e.RoomID == roomID {
			return e, true
		}
	}
	return roomEntryJSON{}, false
}

const waitFor = 10 * time.Second

// eventually retries check until it returns nil or waitFor passes.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, waitFor, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// memberIs waits until n shows userID in roomID with the given membership
// and invite state, as user sees the room.
func (n *node) memberIs(user, roomID, userID, membership, inviteState string) {
	n.t.Helper()
	eventually(n.t, fmt.Sprintf("%s sees %s %s/%s", n.name(), userID, membership, inviteState), func() error {
		m, _ := n.room(user, roomID).member(userID)
		if m.Membership != membership || m.InviteState != inviteState {
			return fmt.Errorf("got %+v", m)
		}
		return nil
	})
}

// pair starts A (alice, carol) and B (bob, dave).
func pair(t *testing.T) (a, b *node) {
	return startNode(t, "alice", "carol"), startNode(t, "bob", "dave")
}

// sharedChannel has alice on A make a channel and bob on B join it.
func sharedChannel(t *testing.T, a, b *node) string {
	t.Helper()
	roomID := a.create("alice", map[string]any{"kind": "channel", "name": "General", "topic": "Talk", "invite": []string{b.id("bob")}})
	b.must(http.StatusOK, "POST", roomPath(roomID, "/accept"), "bob", nil, nil)
	return roomID
}
