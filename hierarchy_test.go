package homeserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"testing"
)

// spaceFixture is a public space on A with its children, as bob's
// server B sees them: a public room, an invite-only room B is not in, an
// invite-only room bob has joined, a world readable invite-only room,
// a child A does not hold and a link without a via.
type spaceFixture struct {
	a, b                                   *peer
	space, public, secret, shared, reading string
}

func newSpaceFixture(t *testing.T) spaceFixture {
	t.Helper()
	a, b := twoPeers(t)
	ctx := context.Background()
	create := func(req CreateRoomRequest) string {
		t.Helper()
		req.Creator = "alice"
		id, err := a.srv.CreateRoom(ctx, req)
		if err != nil {
			t.Fatalf("create %q: %v", req.Name, err)
		}
		return id
	}
	f := spaceFixture{a: a, b: b}
	f.space = create(CreateRoomRequest{Name: "The Space", Topic: "rooms of ours", Public: true, Type: RoomTypeSpace})
	f.public = create(CreateRoomRequest{Name: "Lobby", Public: true})
	f.secret = create(CreateRoomRequest{Name: "Secret"})
	f.shared = sharedRoom(t, a, b, "")
	f.reading = create(CreateRoomRequest{Name: "Reading room"})
	sendState(t, a, f.reading, "alice", "m.room.history_visibility", "", map[string]string{"history_visibility": "world_readable"})
	link := func(child string, c map[string]any) {
		t.Helper()
		raw, _ := json.Marshal(c)
		if _, err := a.srv.SendEvent(ctx, f.space, "alice", "m.space.child", &child, raw); err != nil {
			t.Fatalf("link %s: %v", child, err)
		}
	}
	via := []string{"hs-a.test"}
	link(f.public, map[string]any{"via": via, "suggested": true, "order": "1"})
	link(f.secret, map[string]any{"via": via, "order": "2"})
	link(f.shared, map[string]any{"via": via, "order": "3"})
	link(f.reading, map[string]any{"via": via, "order": "4"})
	link("!elsewhere:hs-c.test", map[string]any{"via": []string{"hs-c.test"}, "order": "5"})
	link("!unlinked:hs-a.test", map[string]any{"via": []string{}})
	return f
}

// hierarchy asks A for a room's hierarchy as B, with a raw query.
func (f spaceFixture) hierarchy(t *testing.T, roomID, query string) (int, map[string]any) {
	t.Helper()
	path := "/_matrix/federation/v1/hierarchy/" + url.PathEscape(roomID)
	if query != "" {
		path += "?" + query
	}
	return craft(t, signerOf(f.b), f.a, "hs-a.test", "GET", path, nil, nil)
}

// roomIDs lists the room_id of each object of a JSON array, or the
// strings of a string array.
func roomIDs(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, e := range list {
		switch e := e.(type) {
		case string:
			out = append(out, e)
		case map[string]any:
			id, _ := e["room_id"].(string)
			out = append(out, id)
		}
	}
	return out
}

// childLinks lists the state keys of a room's children_state, or nil when
// it is missing or not an array.
func childLinks(t *testing.T, room map[string]any) []string {
	t.Helper()
	list, ok := room["children_state"].([]any)
	if !ok {
		t.Fatalf("children_state is not an array: %v", room)
	}
	out := []string{}
	for _, e := range list {
		ev, _ := e.(map[string]any)
		if ev["type"] != "m.space.child" || ev["sender"] != "@alice:hs-a.test" {
			t.Errorf("children_state entry: %v", ev)
		}
		if ts, ok := ev["origin_server_ts"].(float64); !ok || ts <= 0 {
			t.Errorf("children_state entry without origin_server_ts: %v", ev)
		}
		if c, _ := ev["content"].(map[string]any); c["via"] == nil {
			t.Errorf("children_state entry without its content: %v", ev)
		}
		sk, _ := ev["state_key"].(string)
		out = append(out, sk)
	}
	return out
}

// https://spec.matrix.org/v1.16/server-server-api/#get_matrixfederationv1hierarchyroomid
func TestHierarchyOfASpace(t *testing.T) {
	f := newSpaceFixture(t)
	code, body := f.hierarchy(t, f.space, "")
	if code != 200 {
		t.Fatalf("hierarchy of the space: %d %v", code, body)
	}
	room, _ := body["room"].(map[string]any)
	want := map[string]any{"room_id": f.space, "room_type": "m.space", "join_rule": "public", "name": "The Space",
		"topic": "rooms of ours", "num_joined_members": float64(1), "world_readable": false, "guest_can_join": false, "room_version": "10"}
	for k, v := range want {
		if room[k] != v {
			t.Errorf("room.%s = %v, want %v", k, room[k], v)
		}
	}
	// Every linked child in order, including the one A does not hold;
	// the link without a via is no child.
	if got, want := childLinks(t, room), []string{f.public, f.secret, f.shared, f.reading, "!elsewhere:hs-c.test"}; !slices.Equal(got, want) {
		t.Errorf("children_state = %v, want %v", got, want)
	}
	if got, want := roomIDs(body["children"]), []string{f.public, f.shared, f.reading}; !slices.Equal(got, want) {
		t.Errorf("children = %v, want %v", got, want)
	}
	if got, want := roomIDs(body["inaccessible_children"]), []string{f.secret}; !slices.Equal(got, want) {
		t.Errorf("inaccessible_children = %v, want %v", got, want)
	}
	children, _ := body["children"].([]any)
	for _, c := range children {
		c, _ := c.(map[string]any)
		if _, ok := c["room_type"]; ok {
			t.Errorf("a plain room has a room_type: %v", c)
		}
		if got := childLinks(t, c); len(got) != 0 {
			t.Errorf("a plain room has children: %v", c)
		}
		if c["room_id"] == f.shared && (c["num_joined_members"] != float64(2) || c["join_rule"] != "invite") {
			t.Errorf("the shared room's summary: %v", c)
		}
	}

	code, body = f.hierarchy(t, f.space, "suggested_only=true")
	if code != 200 {
		t.Fatalf("suggested_only=true: %d %v", code, body)
	}
	room, _ = body["room"].(map[string]any)
	if got := childLinks(t, room); !slices.Equal(got, []string{f.public}) {
		t.Errorf("suggested children_state = %v, want only %s", got, f.public)
	}
	if got := roomIDs(body["children"]); !slices.Equal(got, []string{f.public}) {
		t.Errorf("suggested children = %v", got)
	}
	if got := roomIDs(body["inaccessible_children"]); len(got) != 0 {
		t.Errorf("suggested inaccessible_children = %v", got)
	}
}

// TestHierarchyAccess: who may see which room, and bad input.
func TestHierarchyAccess(t *testing.T) {
	f := newSpaceFixture(t)
	tests := map[string]struct {
		room, query string
		status      int
		errcode     string
	}{
		"a public room":                           {f.public, "", 200, ""},
		"a world readable invite-only room":       {f.reading, "", 200, ""},
		"a private room the server is in":         {f.shared, "", 200, ""},
		"a private room the server is not in":     {f.secret, "", 404, "M_NOT_FOUND"},
		"an unknown room":                         {"!nope:hs-a.test", "", 404, "M_NOT_FOUND"},
		"a room of another server we do not hold": {"!elsewhere:hs-c.test", "", 404, "M_NOT_FOUND"},
		"suggested_only=false":                    {f.space, "suggested_only=false", 200, ""},
		"suggested_only=yes":                      {f.space, "suggested_only=yes", 400, "M_INVALID_PARAM"},
		"suggested_only=1":                        {f.space, "suggested_only=1", 400, "M_INVALID_PARAM"},
		"suggested_only empty":                    {f.space, "suggested_only=", 400, "M_INVALID_PARAM"},
		"suggested_only=True":                     {f.space, "suggested_only=True", 400, "M_INVALID_PARAM"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, body := f.hierarchy(t, tc.room, tc.query)
			if code != tc.status || (tc.errcode != "" && body["errcode"] != tc.errcode) {
				t.Fatalf("%d %v, want %d %s", code, body, tc.status, tc.errcode)
			}
			if code == 200 {
				room, _ := body["room"].(map[string]any)
				if room["room_id"] != tc.room || body["children"] == nil || body["inaccessible_children"] == nil {
					t.Errorf("answer: %v", body)
				}
			}
		})
	}

	// Once bob is invited, B could join the secret room: it is served.
	if err := f.a.srv.Invite(context.Background(), f.secret, "alice", f.b.userID("bob")); err != nil {
		t.Fatal(err)
	}
	waitInvite(t, f.b.invites, f.secret)
	if code, body := f.hierarchy(t, f.secret, ""); code != 200 {
		t.Errorf("the secret room once bob is invited: %d %v", code, body)
	}
	if code, body := f.hierarchy(t, f.space, ""); code != 200 || slices.Contains(roomIDs(body["inaccessible_children"]), f.secret) {
		t.Errorf("the space once bob is invited to the secret room: %d %v", code, body)
	}
}

// TestCreateSpaceRefusals: only channels take a room type.
func TestCreateSpaceRefusals(t *testing.T) {
	a := newPeer(t, newNetwork(), "hs-a.test")
	_, err := a.srv.CreateRoom(context.Background(), CreateRoomRequest{Creator: "alice", Kind: KindDM, Invite: []string{"@bob:hs-b.test"}, Type: RoomTypeSpace})
	if !errors.Is(err, ErrUnsupportedRoomType) {
		t.Fatalf("a DM space: %v, want ErrUnsupportedRoomType", err)
	}
}
