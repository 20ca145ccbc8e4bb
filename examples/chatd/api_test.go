package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// POST /api/rooms: every kind, the fields it stores, and what GET
// /api/rooms/{room} answers right after.
func TestCreateRoom(t *testing.T) {
	a, b := pair(t)
	bob, dave := b.id("bob"), b.id("dave")

	t.Run("channel", func(t *testing.T) {
		id := a.create("alice", map[string]any{"kind": "channel", "name": "General", "topic": "Talk", "public": true})
		r := a.room("alice", id)
		if r.RoomID != id || r.Kind != "channel" || r.Name != "General" || r.Topic != "Talk" || r.Origin != a.name() || r.RoomVersion != "10" {
			t.Fatalf("room: %+v", r)
		}
		if m, _ := r.member(a.id("alice")); m.Membership != "join" || m.Role != "owner" || m.InviteState != "" {
			t.Fatalf("creator: %+v", m)
		}
		if r.Banned == nil || r.Typing == nil || len(r.Banned) != 0 || len(r.Typing) != 0 {
			t.Fatalf("banned and typing must be empty lists: %+v", r)
		}
	})
	t.Run("kind defaults to channel", func(t *testing.T) {
		id := a.create("alice", map[string]any{"name": "Default"})
		if r := a.room("alice", id); r.Kind != "channel" {
			t.Fatalf("kind %q", r.Kind)
		}
	})
	t.Run("dm", func(t *testing.T) {
		id := a.create("alice", map[string]any{"kind": "dm", "invite": []string{bob}})
		r := a.room("alice", id)
		if r.Kind != "dm" {
			t.Fatalf("kind %q", r.Kind)
		}
		if m, _ := r.member(bob); m.Membership != "invite" || m.InviteState != "pending" || m.Role != "owner" {
			t.Fatalf("bob in a dm: %+v", m)
		}
		if e, ok := b.entry("bob", id); !ok || e.Kind != "dm" || e.Membership != "invite" || e.InviteState != "pending" || e.Origin != a.name() {
			t.Fatalf("bob's list: %+v %v", e, ok)
		}
	})
	t.Run("group", func(t *testing.T) {
		id := a.create("alice", map[string]any{"kind": "group", "name": "Trio", "invite": []string{bob, dave, a.id("carol")}})
		r := a.room("alice", id)
		if r.Kind != "group" || len(r.Members) != 4 {
			t.Fatalf("group: %+v", r)
		}
		for _, u := range []string{bob, dave, a.id("carol")} {
			if m, _ := r.member(u); m.Membership != "invite" || m.InviteState != "pending" {
				t.Fatalf("%s: %+v", u, m)
			}
		}
		if e, ok := a.entry("carol", id); !ok || e.Kind != "group" || e.Membership != "invite" {
			t.Fatalf("carol's list: %+v %v", e, ok)
		}
	})

	refusals := map[string]struct {
		body    any
		status  int
		errcode string
	}{
		"unknown kind":            {map[string]any{"kind": "forum"}, 400, "M_INVALID_PARAM"},
		"dm without a user":       {map[string]any{"kind": "dm"}, 400, "M_INVALID_PARAM"},
		"dm with two users":       {map[string]any{"kind": "dm", "invite": []string{bob, dave}}, 400, "M_INVALID_PARAM"},
		"group without users":     {map[string]any{"kind": "group"}, 400, "M_INVALID_PARAM"},
		"invite not a user ID":    {map[string]any{"invite": []string{"bob"}}, 400, "M_INVALID_PARAM"},
		"invite of no local user": {map[string]any{"invite": []string{a.id("zed")}}, 404, "M_NOT_FOUND"},
		"body not JSON":           {"{kind:", 400, "M_NOT_JSON"},
		"public not a bool":       {map[string]any{"public": "yes"}, 400, "M_BAD_JSON"},
		"invite not a list":       {map[string]any{"invite": bob}, 400, "M_BAD_JSON"},
	}
	for name, c := range refusals {
		t.Run(name, func(t *testing.T) {
			a.refused(c.status, c.errcode, "POST", "/api/rooms", "alice", c.body)
		})
	}
}

// A room is made even when inviting into it fails; the error says which
// room, so the host is not left with an unnamed room.
func TestCreateRoomUnreachableInvitee(t *testing.T) {
	a := startNode(t, "alice")
	r := a.do("POST", "/api/rooms", "alice", map[string]any{"kind": "dm", "invite": []string{"@bob:127.0.0.1:1"}})
	var e struct {
		ErrCode string `json:"errcode"`
		Error   string `json:"error"`
		RoomID  string `json:"room_id"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || r.status != http.StatusBadGateway || e.ErrCode != "M_UNKNOWN" || e.Error == "" {
		t.Fatalf("got %d %s, want 502 M_UNKNOWN", r.status, r.body)
	}
	if got := a.room("alice", e.RoomID); got.Kind != "dm" {
		t.Fatalf("the room named in the error: %+v", got)
	}
}

// X-User names the acting user; there is no other authentication.
func TestXUser(t *testing.T) {
	a, b := pair(t)
	a.refused(401, "M_MISSING_TOKEN", "GET", "/api/rooms", "", nil)
	a.refused(401, "M_UNKNOWN_TOKEN", "GET", "/api/rooms", "mallory", nil)
	a.refused(401, "M_UNKNOWN_TOKEN", "GET", "/api/rooms", b.id("bob"), nil)
	a.refused(401, "M_UNKNOWN_TOKEN", "GET", "/api/rooms", "not a name", nil)
	a.must(200, "GET", "/api/rooms", a.id("alice"), nil, nil)
	a.must(200, "GET", "/api/rooms", "alice", nil, nil)
}

// GET /api/rooms: X-User's rooms and pending invites, with kind, name,
// topic, origin, membership and invite_state.
func TestRoomList(t *testing.T) {
	a, b := pair(t)
	if r := a.do("GET", "/api/rooms", "alice", nil); r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("no rooms: %d %s, want 200 []", r.status, r.body)
	}
	own := a.create("alice", map[string]any{"name": "Mine", "topic": "T"})
	invited := b.create("bob", map[string]any{"kind": "channel", "name": "Bob's", "topic": "From B", "invite": []string{a.id("alice")}})

	list := a.rooms("alice")
	if len(list) != 2 {
		t.Fatalf("list: %+v", list)
	}
	if list[0].RoomID != invited {
		t.Fatalf("pending invites come first: %+v", list)
	}
	want := []roomEntryJSON{
		{RoomID: invited, Kind: "channel", Name: "Bob's", Topic: "From B", Origin: b.name(), Membership: "invite", InviteState: "pending"},
		{RoomID: own, Kind: "channel", Name: "Mine", Topic: "T", Origin: a.name(), Membership: "join", InviteState: ""},
	}
	if !slices.Equal(list, want) {
		t.Fatalf("list:\n got %+v\nwant %+v", list, want)
	}
	a.must(200, "POST", roomPath(invited, "/accept"), "alice", nil, nil)
	if e, _ := a.entry("alice", invited); e.Membership != "join" || e.InviteState != "accepted" || e.Origin != b.name() {
		t.Fatalf("after accepting: %+v", e)
	}
	if got := a.rooms("carol"); len(got) != 0 {
		t.Fatalf("carol is in no room: %+v", got)
	}
}

// Invite, accept: the invitee sees the room before joining, cannot read
// it, joins through the inviting server; both sides agree afterwards.
func TestInviteAccept(t *testing.T) {
	a, b := pair(t)
	bob := b.id("bob")
	roomID := a.create("alice", map[string]any{"name": "General", "topic": "Talk"})
	a.send("alice", roomID, "said before bob came")
	a.must(200, "POST", roomPath(roomID, "/invite"), "alice", map[string]string{"user": bob}, nil)
	a.memberIs("alice", roomID, bob, "invite", "pending")

	// Bob sees the room from his invite, before B is in it.
	r := b.room("bob", roomID)
	if r.Name != "General" || r.Origin != a.name() || r.Kind != "channel" {
		t.Fatalf("invited view: %+v", r)
	}
	if m, _ := r.member(bob); m.Membership != "invite" || m.InviteState != "pending" {
		t.Fatalf("bob in his invited view: %+v", m)
	}
	b.refused(403, "M_FORBIDDEN", "GET", roomPath(roomID, "/messages"), "bob", nil)
	b.refused(404, "M_NOT_FOUND", "GET", roomPath(roomID, ""), "dave", nil)
	b.refused(404, "M_NOT_FOUND", "POST", roomPath(roomID, "/accept"), "dave", nil)

	b.must(200, "POST", roomPath(roomID, "/accept"), "bob", nil, nil)
	a.memberIs("alice", roomID, bob, "join", "accepted")
	b.memberIs("bob", roomID, bob, "join", "accepted")
	eventually(t, "bob gets the history", func() error {
		if msgs := b.messages("bob", roomID); len(msgs) != 1 || msgs[0].Body != "said before bob came" {
			return fmt.Errorf("%+v", msgs)
		}
		return nil
	})
	b.refused(404, "M_NOT_FOUND", "POST", roomPath(roomID, "/accept"), "bob", nil)
	a.refused(403, "M_FORBIDDEN", "POST", roomPath(roomID, "/invite"), "alice", map[string]string{"user": bob})

	a.refused(400, "M_MISSING_PARAM", "POST", roomPath(roomID, "/invite"), "alice", map[string]string{})
	a.refused(400, "M_INVALID_PARAM", "POST", roomPath(roomID, "/invite"), "alice", map[string]string{"user": "bob"})
	a.refused(404, "M_NOT_FOUND", "POST", roomPath(roomID, "/invite"), "alice", map[string]string{"user": a.id("zed")})
	a.refused(403, "M_FORBIDDEN", "POST", roomPath(roomID, "/invite"), "carol", map[string]string{"user": b.id("dave")})
	a.refused(502, "M_UNKNOWN", "POST", roomPath(roomID, "/invite"), "alice", map[string]string{"user": "@x:127.0.0.1:1"})
	a.refused(404, "M_NOT_FOUND", "POST", roomPath("!nowhere:"+a.name(), "/invite"), "alice", map[string]string{"user": bob})
}

// Reject: the invite leaves the invitee's list and shows as rejected on
// the inviting side.
func TestReject(t *testing.T) {
	a, b := pair(t)
	bob := b.id("bob")
	roomID := a.create("alice", map[string]any{"kind": "dm", "invite": []string{bob}})
	b.must(200, "POST", roomPath(roomID, "/reject"), "bob", nil, nil)
	if _, ok := b.entry("bob", roomID); ok {
		t.Fatal("a rejected invite is still in bob's list")
	}
	a.memberIs("alice", roomID, bob, "leave", "rejected")
	b.refused(404, "M_NOT_FOUND", "POST", roomPath(roomID, "/reject"), "bob", nil)
	b.refused(404, "M_NOT_FOUND", "POST", roomPath(roomID, "/accept"), "bob", nil)
	var invites []struct {
		RoomID string `json:"room_id"`
		State  string `json:"invite_state"`
	}
	b.must(200, "GET", "/api/invites", "bob", nil, &invites)
	if len(invites) != 1 || invites[0].RoomID != roomID || invites[0].State != "rejected" {
		t.Fatalf("bob's invites: %+v", invites)
	}
}

// Revoke: the inviter withdraws a pending invite; it leaves the invitee's
// list on the other server.
func TestRevoke(t *testing.T) {
	a, b := pair(t)
	bob := b.id("bob")
	roomID := a.create("alice", map[string]any{"name": "General", "invite": []string{bob, a.id("carol")}})
	a.must(200, "POST", roomPath(roomID, "/accept"), "carol", nil, nil)

	// carol is a plain user and did not send the invite.
	a.refused(403, "M_FORBIDDEN", "POST", roomPath(roomID, "/revoke"), "carol", map[string]string{"user": bob})
	a.must(200, "POST", roomPath(roomID, "/revoke"), "alice", map[string]string{"user": bob}, nil)
	a.memberIs("alice", roomID, bob, "leave", "revoked")
	eventually(t, "the revoked invite leaves bob's list", func() error {
		if e, ok := b.entry("bob", roomID); ok {
			return fmt.Errorf("still there: %+v", e)
		}
		return nil
	})
	a.refused(404, "M_NOT_FOUND", "POST", roomPath(roomID, "/revoke"), "alice", map[string]string{"user": bob})
	a.refused(404, "M_NOT_FOUND", "POST", roomPath(roomID, "/revoke"), "alice", map[string]string{"user": a.id("carol")})
	a.refused(400, "M_MISSING_PARAM", "POST", roomPath(roomID, "/revoke"), "alice", nil)
	b.refused(404, "M_NOT_FOUND", "POST", roomPath(roomID, "/accept"), "bob", nil)
}

// Leave: the other side sees it; the room leaves the list; a second
// leave is refused.
func TestLeave(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	b.must(200, "POST", roomPath(roomID, "/leave"), "bob", nil, nil)
	a.memberIs("alice", roomID, b.id("bob"), "leave", "accepted")
	if _, ok := b.entry("bob", roomID); ok {
		t.Fatal("the room is still in bob's list")
	}
	b.refused(403, "M_FORBIDDEN", "GET", roomPath(roomID, ""), "bob", nil)
	b.refused(403, "M_FORBIDDEN", "POST", roomPath(roomID, "/leave"), "bob", nil)
	b.refused(404, "M_NOT_FOUND", "POST", roomPath("!gone:"+b.name(), "/leave"), "bob", nil)
}

// Messages both ways, oldest first, with Matrix event IDs and times.
func TestMessages(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	var sent []string
	for i := range 3 {
		sent = append(sent, a.send("alice", roomID, fmt.Sprintf("a%d", i)))
	}
	eventually(t, "bob gets alice's messages", func() error {
		if n := len(b.messages("bob", roomID)); n != 3 {
			return fmt.Errorf("%d messages", n)
		}
		return nil
	})
	sent = append(sent, b.send("bob", roomID, "b0"))
	eventually(t, "alice gets bob's answer", func() error {
		if n := len(a.messages("alice", roomID)); n != 4 {
			return fmt.Errorf("%d messages", n)
		}
		return nil
	})
	for _, n := range []*node{a, b} {
		user := map[*node]string{a: "alice", b: "bob"}[n]
		msgs := n.messages(user, roomID)
		var got, bodies []string
		for i, m := range msgs {
			got, bodies = append(got, m.EventID), append(bodies, m.Body)
			if m.TS == 0 || i > 0 && m.TS < msgs[i-1].TS || m.ReadBy == nil {
				t.Fatalf("%s: message %d: %+v", n.name(), i, m)
			}
		}
		if !slices.Equal(got, sent) || !slices.Equal(bodies, []string{"a0", "a1", "a2", "b0"}) {
			t.Fatalf("%s: got %v %v, want %v oldest first", n.name(), got, bodies, sent)
		}
		if msgs[0].Sender != a.id("alice") || msgs[3].Sender != b.id("bob") {
			t.Fatalf("senders: %+v", msgs)
		}
	}
	if msgs := a.messages("alice", roomID); !strings.Contains(string(mustJSON(t, msgs)), `"read_by":[]`) {
		t.Fatalf("read_by is a list even when empty")
	}
	a.refused(400, "M_MISSING_PARAM", "POST", roomPath(roomID, "/messages"), "alice", map[string]string{"body": ""})
	a.refused(400, "M_BAD_JSON", "POST", roomPath(roomID, "/messages"), "alice", map[string]int{"body": 1})
	a.refused(403, "M_FORBIDDEN", "POST", roomPath(roomID, "/messages"), "carol", map[string]string{"body": "let me in"})
	a.refused(403, "M_FORBIDDEN", "GET", roomPath(roomID, "/messages"), "carol", nil)
	a.refused(404, "M_NOT_FOUND", "GET", roomPath("!nowhere:"+a.name(), "/messages"), "alice", nil)
	a.refused(404, "M_NOT_FOUND", "POST", roomPath("!nowhere:"+a.name(), "/messages"), "alice", map[string]string{"body": "x"})
	a.refused(400, "M_INVALID_PARAM", "GET", roomPath(roomID, "/messages?limit=0"), "alice", nil)
	var two []messageJSON
	a.must(200, "GET", roomPath(roomID, "/messages")+"?limit=2", "alice", nil, &two)
	if len(two) != 2 || two[0].Body != "a2" || two[1].Body != "b0" {
		t.Fatalf("limit=2 gives the newest two, oldest first: %+v", two)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Name and topic travel to the other server; plain users may not change
// a channel's.
func TestNameAndTopic(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	a.must(200, "PUT", roomPath(roomID, "/name"), "alice", map[string]string{"name": "Renamed"}, nil)
	a.must(200, "PUT", roomPath(roomID, "/topic"), "alice", map[string]string{"topic": "New topic"}, nil)
	eventually(t, "B shows the new name and topic", func() error {
		r := b.room("bob", roomID)
		e, _ := b.entry("bob", roomID)
		if r.Name != "Renamed" || r.Topic != "New topic" || e.Name != "Renamed" || e.Topic != "New topic" {
			return fmt.Errorf("room %+v, entry %+v", r, e)
		}
		return nil
	})
	b.refused(403, "M_FORBIDDEN", "PUT", roomPath(roomID, "/name"), "bob", map[string]string{"name": "Mine now"})
	b.refused(403, "M_FORBIDDEN", "PUT", roomPath(roomID, "/topic"), "bob", map[string]string{"topic": "Mine now"})
	a.refused(400, "M_MISSING_PARAM", "PUT", roomPath(roomID, "/name"), "alice", map[string]string{})
	a.refused(400, "M_MISSING_PARAM", "PUT", roomPath(roomID, "/topic"), "alice", nil)
	a.refused(404, "M_NOT_FOUND", "PUT", roomPath("!nowhere:"+a.name(), "/name"), "alice", map[string]string{"name": "x"})
	a.must(200, "PUT", roomPath(roomID, "/topic"), "alice", map[string]string{"topic": ""}, nil)
	if r := a.room("alice", roomID); r.Topic != "" {
		t.Fatalf("an empty topic clears it: %+v", r)
	}
}

// POST /api/command runs "/federation dm".
func TestCommand(t *testing.T) {
	a, b := pair(t)
	var out struct {
		RoomID string `json:"room_id"`
	}
	a.must(200, "POST", "/api/command", "alice", map[string]string{"text": "/federation dm " + b.id("bob")}, &out)
	if r := a.room("alice", out.RoomID); r.Kind != "dm" {
		t.Fatalf("one user makes a dm: %+v", r)
	}
	if e, ok := b.entry("bob", out.RoomID); !ok || e.Kind != "dm" || e.InviteState != "pending" {
		t.Fatalf("bob's invite: %+v %v", e, ok)
	}
	a.must(200, "POST", "/api/command", "alice", map[string]string{"text": "/federation dm " + b.id("bob") + " " + b.id("dave")}, &out)
	if r := a.room("alice", out.RoomID); r.Kind != "group" || len(r.Members) != 3 {
		t.Fatalf("several users make a group: %+v", r)
	}
	a.refused(400, "M_INVALID_PARAM", "POST", "/api/command", "alice", map[string]string{"text": "hello"})
	a.refused(400, "M_INVALID_PARAM", "POST", "/api/command", "alice", map[string]string{"text": "/federation dm"})
	a.refused(400, "M_INVALID_PARAM", "POST", "/api/command", "alice", map[string]string{"text": "/federation dm bob"})
	a.refused(400, "M_MISSING_PARAM", "POST", "/api/command", "alice", map[string]string{})
	a.refused(401, "M_MISSING_TOKEN", "POST", "/api/command", "", map[string]string{"text": "/federation dm " + b.id("bob")})
}

// Errors every endpoint shares: escaped room IDs, unknown rooms, methods,
// paths, bodies.
func TestErrors(t *testing.T) {
	a := startNode(t, "alice")
	roomID := a.create("alice", map[string]any{"name": "R"})
	endpoints := []struct{ method, rest string }{
		{"GET", ""}, {"POST", "/invite"}, {"POST", "/revoke"}, {"POST", "/accept"}, {"POST", "/reject"},
		{"POST", "/leave"}, {"GET", "/messages"}, {"POST", "/messages"}, {"PUT", "/name"}, {"PUT", "/topic"},
		{"PUT", "/roles/%40x%3Ay"}, {"POST", "/ban"}, {"POST", "/unban"}, {"POST", "/kick"}, {"POST", "/read"},
		{"POST", "/typing"},
	}
	for _, e := range endpoints {
		t.Run(e.method+e.rest, func(t *testing.T) {
			a.refused(401, "M_MISSING_TOKEN", e.method, roomPath(roomID, e.rest), "", nil)
			a.refused(400, "M_INVALID_PARAM", e.method, "/api/rooms/not-a-room"+e.rest, "alice", nil)
			a.refused(405, "M_UNRECOGNIZED", "DELETE", roomPath(roomID, e.rest), "alice", nil)
			if e.method != "GET" && e.rest != "/accept" && e.rest != "/reject" && e.rest != "/leave" {
				a.refused(400, "M_NOT_JSON", e.method, roomPath(roomID, e.rest), "alice", "not json")
			}
		})
	}
	// The room ID is URL-escaped: %21 and %3A, or a raw ":" (legal in a path).
	a.must(200, "GET", "/api/rooms/"+url.QueryEscape(roomID), "alice", nil, nil)
	a.must(200, "GET", "/api/rooms/"+strings.Replace(roomID, "!", "%21", 1), "alice", nil, nil)
	a.refused(404, "M_NOT_FOUND", "GET", roomPath("!unknown:"+a.name(), ""), "alice", nil)
	a.refused(405, "M_UNRECOGNIZED", "DELETE", "/api/rooms", "alice", nil)
	a.refused(405, "M_UNRECOGNIZED", "GET", "/api/command", "alice", nil)
	a.refused(404, "M_UNRECOGNIZED", "GET", "/api/nothing", "alice", nil)
	a.refused(404, "M_UNRECOGNIZED", "GET", roomPath(roomID, "/nothing"), "alice", nil)
	a.refused(413, "M_TOO_LARGE", "POST", roomPath(roomID, "/messages"), "alice", `{"body":"`+strings.Repeat("x", 70<<10)+`"}`)
	a.refused(400, "M_BAD_JSON", "POST", roomPath(roomID, "/messages"), "alice", `["not", "an object"]`)
}

// One listener serves federation, the API, the page and the live stream.
func TestOneListener(t *testing.T) {
	a := startNode(t, "alice", "bob")
	var key struct {
		ServerName string `json:"server_name"`
	}
	a.must(200, "GET", "/_matrix/key/v2/server", "", nil, &key)
	if key.ServerName != a.name() {
		t.Fatalf("key server: %+v", key)
	}
	var info struct {
		ServerName string `json:"server_name"`
		Users      []struct {
			Name   string `json:"name"`
			UserID string `json:"user_id"`
		} `json:"users"`
	}
	a.must(200, "GET", "/api/info", "", nil, &info)
	if info.ServerName != a.name() || len(info.Users) != 2 || info.Users[0].UserID != a.id("alice") || info.Users[1].Name != "bob" {
		t.Fatalf("info: %+v", info)
	}
	for path, want := range map[string]string{"/": "<!doctype html>", "/static/app.js": "X-User", "/static/style.css": "body"} {
		r := a.do("GET", path, "", nil)
		if r.status != 200 || !strings.Contains(string(r.body), want) {
			t.Fatalf("GET %s: %d %.80s", path, r.status, r.body)
		}
	}

	// The live stream says "change" when anything happens.
	res, err := a.client.Get(a.url("/api/events"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		for l := range lines {
			if strings.HasPrefix(l, "data: ") {
				return l
			}
		}
		t.Fatal("stream ended")
		return ""
	}
	first := next()
	a.create("alice", map[string]any{"name": "wake the stream"})
	if second := next(); second == first {
		t.Fatalf("no change announced: %q then %q", first, second)
	}
}

// chatd's data, the homeserver's and the TLS pair survive a restart.
func TestRestart(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	a.send("alice", roomID, "before the restart")
	before := a.app.srv.TLSConfig.Certificates[0].Certificate[0]
	a.restart()
	after := a.app.srv.TLSConfig.Certificates[0].Certificate[0]
	if string(before) != string(after) {
		t.Fatal("the generated TLS pair was not reused")
	}
	if msgs := a.messages("alice", roomID); len(msgs) != 1 || msgs[0].Body != "before the restart" {
		t.Fatalf("messages after restart: %+v", msgs)
	}
	b.send("bob", roomID, "after the restart")
	eventually(t, "A still federates", func() error {
		if n := len(a.messages("alice", roomID)); n != 2 {
			return fmt.Errorf("%d messages", n)
		}
		return nil
	})
}
