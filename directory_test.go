package homeserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/embedmatrix/homeserver/content"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// TestJoinByAlias: alice gives her room an alias on A, which becomes its
// canonical alias; bob on B resolves it over federation and joins by it,
// and A's directory then answers with both servers, A first.
func TestJoinByAlias(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Public: true, Name: "Lobby"})
	if err != nil {
		t.Fatal(err)
	}
	const alias = "#lobby:hs-a.test"
	if err := a.srv.SetAlias(ctx, roomID, "alice", alias); err != nil {
		t.Fatalf("SetAlias: %v", err)
	}
	ev, err := a.srv.store.StateEvent(ctx, roomID, spec.MRoomCanonicalAlias, "")
	if err != nil || !jsonHas(content.Of(ev.JSON), "alias", alias) || ev.Sender != a.userID("alice") {
		t.Fatalf("canonical alias after SetAlias: %s, %v", ev.JSON, err)
	}
	// A second alias leaves the canonical alias alone.
	if err := a.srv.SetAlias(ctx, roomID, "alice", "#hall:hs-a.test"); err != nil {
		t.Fatalf("second SetAlias: %v", err)
	}
	if ev2, _ := a.srv.store.StateEvent(ctx, roomID, spec.MRoomCanonicalAlias, ""); ev2.EventID != ev.EventID {
		t.Fatalf("a second alias replaced the canonical alias: %s", ev2.JSON)
	}

	got, servers, err := b.srv.ResolveAlias(ctx, alias)
	if err != nil || got != roomID || !slices.Equal(servers, []string{"hs-a.test"}) {
		t.Fatalf("remote ResolveAlias: %q %q %v", got, servers, err)
	}
	joined, err := b.srv.Join(ctx, alias, "bob", nil)
	if err != nil || joined != roomID {
		t.Fatalf("Join by alias: %q, %v", joined, err)
	}
	waitMembership(t, a.memberships, b.userID("bob"), "join")
	say(t, b, a, roomID, "bob", "joined by alias")

	got, servers, err = a.srv.ResolveAlias(ctx, alias)
	if err != nil || got != roomID || !slices.Equal(servers, []string{"hs-a.test", "hs-b.test"}) {
		t.Fatalf("local ResolveAlias after bob joined: %q %q %v", got, servers, err)
	}
	code, body := craft(t, signerOf(b), a, "hs-a.test", "GET", "/_matrix/federation/v1/query/directory?room_alias="+url.QueryEscape(alias), nil, nil)
	if code != 200 || body["room_id"] != roomID {
		t.Fatalf("/query/directory: %d %v", code, body)
	}
	if s, _ := body["servers"].([]any); len(s) != 2 || s[0] != "hs-a.test" || s[1] != "hs-b.test" {
		t.Fatalf("/query/directory servers: %v (want ours first)", body["servers"])
	}

	// JoinRoom takes an alias too; bob is in already, carol on A joins
	// A's own room locally.
	if err := a.srv.JoinRoom(ctx, "#hall:hs-a.test", "carol", nil); err != nil {
		t.Fatalf("local JoinRoom by alias: %v", err)
	}
	if m, err := a.srv.membershipOf(ctx, roomID, a.userID("carol")); err != nil || m != spec.Join {
		t.Fatalf("carol's membership after joining by alias: %q, %v", m, err)
	}

	if err := a.srv.RemoveAlias(ctx, alias); err != nil {
		t.Fatalf("RemoveAlias: %v", err)
	}
	if _, _, err := b.srv.ResolveAlias(ctx, alias); !errors.Is(err, ErrUnknownAlias) {
		t.Fatalf("remote ResolveAlias of a removed alias: %v, want ErrUnknownAlias", err)
	}
	var re *RemoteError
	if _, _, err := b.srv.ResolveAlias(ctx, alias); !errors.As(err, &re) || re.Status != 404 || re.ErrCode != "M_NOT_FOUND" {
		t.Fatalf("remote ResolveAlias of a removed alias: %v, want A's 404 M_NOT_FOUND", err)
	}
	if _, err := b.srv.Join(ctx, alias, "dave", nil); !errors.Is(err, ErrUnknownAlias) {
		t.Fatalf("Join by a removed alias: %v, want ErrUnknownAlias", err)
	}
}

// jsonHas reports whether a JSON object has key set to the string want.
func jsonHas(raw []byte, key, want string) bool {
	var m map[string]any
	return json.Unmarshal(raw, &m) == nil && m[key] == want
}

// TestSetAliasRefusals: each alias the host may not set fails with its
// sentinel and creates nothing.
func TestSetAliasRefusals(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID := sharedRoom(t, a, b, "")
	other, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.srv.SetAlias(ctx, other, "alice", "#taken:hs-a.test"); err != nil {
		t.Fatal(err)
	}
	// carol joins a third public room with the default power (0): she may
	// not send its first m.room.canonical_alias.
	third, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.srv.Join(ctx, third, "carol", nil); err != nil {
		t.Fatalf("carol joins the third room: %v", err)
	}

	for name, tc := range map[string]struct {
		room, sender, alias string
		want                error
	}{
		"no sigil":               {roomID, "alice", "general:hs-a.test", ErrInvalidAlias},
		"no server":              {roomID, "alice", "#general", ErrInvalidAlias},
		"empty localpart":        {roomID, "alice", "#:hs-a.test", ErrInvalidAlias},
		"bad server name":        {roomID, "alice", "#general:bad_server!", ErrInvalidAlias},
		"another server's alias": {roomID, "alice", "#general:hs-b.test", ErrInvalidAlias},
		"taken by another room":  {roomID, "alice", "#taken:hs-a.test", ErrAliasTaken},
		"sender not in the room": {roomID, "carol", "#carol:hs-a.test", ErrNotJoined},
		"sender without power":   {third, "carol", "#carols:hs-a.test", ErrForbidden},
	} {
		t.Run(name, func(t *testing.T) {
			err := a.srv.SetAlias(ctx, tc.room, tc.sender, tc.alias)
			if !errors.Is(err, tc.want) {
				t.Fatalf("SetAlias(%q): %v, want %v", tc.alias, err, tc.want)
			}
			if _, _, err := a.srv.ResolveAlias(ctx, tc.alias); err == nil && tc.want != ErrAliasTaken {
				t.Fatalf("refused alias %q resolves", tc.alias)
			}
		})
	}
	if got, _, err := a.srv.ResolveAlias(ctx, "#taken:hs-a.test"); err != nil || got != other {
		t.Fatalf("a refused SetAlias moved the alias: %q, %v", got, err)
	}
	if err := a.srv.SetAlias(ctx, other, "alice", "#taken:hs-a.test"); err != nil {
		t.Fatalf("setting an alias the room has already: %v", err)
	}
	for name, alias := range map[string]string{"bad grammar": "#x", "another server's": "#x:hs-b.test", "unknown": "#nope:hs-a.test"} {
		want := ErrInvalidAlias
		if name == "unknown" {
			want = ErrUnknownAlias
		}
		if err := a.srv.RemoveAlias(ctx, alias); !errors.Is(err, want) {
			t.Errorf("RemoveAlias of %s alias: %v, want %v", name, err, want)
		}
	}
	if _, _, err := a.srv.ResolveAlias(ctx, "not an alias"); !errors.Is(err, ErrInvalidAlias) {
		t.Errorf("ResolveAlias of a bad alias: %v, want ErrInvalidAlias", err)
	}
}

// TestPublicDirectory: A publishes three of its four rooms; A lists,
// searches and pages through its directory, and B asks A's directory over
// federation (GET, and POST with a search term).
func TestPublicDirectory(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	shared := sharedRoom(t, a, b, "") // "General", "Talk": alice and bob
	mk := func(name, topic string) string {
		id, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Public: true, Name: name, Topic: topic})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	gophers, cats, hidden := mk("Gophers", "all about Go"), mk("Cats", "meow"), mk("Hidden", "not listed")
	for _, id := range []string{shared, gophers, cats} {
		if err := a.srv.SetPublished(ctx, id, true); err != nil {
			t.Fatalf("SetPublished: %v", err)
		}
	}
	if err := a.srv.SetAlias(ctx, cats, "alice", "#felines:hs-a.test"); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.SetPublished(ctx, "!unknown:hs-a.test", true); !errors.Is(err, ErrUnknownRoom) {
		t.Fatalf("publishing a room we are not in: %v, want ErrUnknownRoom", err)
	}
	page, err := a.srv.PublicRooms(ctx, "", "", 0, "")
	if err != nil || page.Total != 3 || len(page.Rooms) != 3 || page.NextBatch != "" || page.PrevBatch != "" ||
		slices.Contains(roomIDsOf(page.Rooms), hidden) {
		t.Fatalf("A's directory: %+v, %v", page, err)
	}
	first := page.Rooms[0]
	if first.RoomID != shared || first.NumJoinedMembers != 2 || first.Name != "General" || first.Topic != "Talk" ||
		first.JoinRule != "invite" || first.WorldReadable || first.GuestCanJoin {
		t.Fatalf("first entry (most members): %+v", first)
	}
	for _, r := range page.Rooms[1:] {
		if r.NumJoinedMembers != 1 || r.JoinRule != "public" {
			t.Fatalf("entry %+v", r)
		}
		if r.RoomID == cats && r.CanonicalAlias != "#felines:hs-a.test" {
			t.Fatalf("canonical alias of the cats room: %+v", r)
		}
	}

	for name, tc := range map[string]struct {
		search string
		want   []string
	}{
		"by name":            {"gopher", []string{gophers}},
		"by topic":           {"MEOW", []string{cats}},
		"by canonical alias": {"felines", []string{cats}},
		"unpublished":        {"hidden", nil},
	} {
		t.Run(name, func(t *testing.T) {
			for _, srv := range []struct {
				who  *peer
				name string
			}{{a, ""}, {b, "hs-a.test"}} {
				page, err := srv.who.srv.PublicRooms(ctx, srv.name, tc.search, 0, "")
				if err != nil {
					t.Fatalf("%s: search %q: %v", srv.who.name, tc.search, err)
				}
				if got := roomIDsOf(page.Rooms); !slices.Equal(got, tc.want) {
					t.Fatalf("%s: search %q: %q, want %q", srv.who.name, tc.search, got, tc.want)
				}
			}
		})
	}

	// Paging one room at a time, locally and from B, visits every room
	// once, in the same order, and comes back.
	for _, srv := range []struct {
		who  *peer
		name string
	}{{a, ""}, {b, "hs-a.test"}} {
		var seen []string
		since, prev := "", ""
		for range 5 {
			page, err := srv.who.srv.PublicRooms(ctx, srv.name, "", 1, since)
			if err != nil {
				t.Fatalf("%s: page after %q: %v", srv.who.name, since, err)
			}
			seen = append(seen, roomIDsOf(page.Rooms)...)
			prev = page.PrevBatch
			if since = page.NextBatch; since == "" {
				break
			}
		}
		if !slices.Equal(seen, roomIDsOf(page.Rooms)) {
			t.Fatalf("%s: paging one at a time: %q, want %q", srv.who.name, seen, roomIDsOf(page.Rooms))
		}
		back, err := srv.who.srv.PublicRooms(ctx, srv.name, "", 1, prev)
		if err != nil || !slices.Equal(roomIDsOf(back.Rooms), seen[1:2]) {
			t.Fatalf("%s: back from the last page: %+v, %v", srv.who.name, back, err)
		}
	}

	if err := a.srv.SetPublished(ctx, gophers, false); err != nil {
		t.Fatal(err)
	}
	page, err = b.srv.PublicRooms(ctx, "hs-a.test", "", 0, "")
	if err != nil || page.Total != 2 || slices.Contains(roomIDsOf(page.Rooms), gophers) {
		t.Fatalf("A's directory from B after unpublishing: %+v, %v", page, err)
	}
	if _, err := a.srv.PublicRooms(ctx, "", "", 0, "never-issued.token"); !errors.Is(err, ErrInvalidPageToken) {
		t.Fatalf("local PublicRooms with a token never issued: %v, want ErrInvalidPageToken", err)
	}
	var re *RemoteError
	if _, err := b.srv.PublicRooms(ctx, "hs-a.test", "", 0, "never-issued.token"); !errors.As(err, &re) || re.Status != 400 || re.ErrCode != "M_INVALID_PARAM" {
		t.Fatalf("remote PublicRooms with a token never issued: %v, want A's 400 M_INVALID_PARAM", err)
	}
}

func roomIDsOf(rs []PublicRoom) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.RoomID)
	}
	return out
}

// TestDirectoryBadInput sends A crafted, signed requests with bad
// aliases, limits and since tokens: each gets its Matrix error, never a
// 500.
func TestDirectoryBadInput(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	roomID, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.srv.SetPublished(ctx, roomID, true); err != nil {
		t.Fatal(err)
	}
	other, err := b.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "bob", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.srv.SetPublished(ctx, other, true); err != nil {
		t.Fatal(err)
	}
	second, err := b.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "bob", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.srv.SetPublished(ctx, second, true); err != nil {
		t.Fatal(err)
	}
	// A real token, but issued by B: A never issued it.
	bPage, err := b.srv.PublicRooms(ctx, "", "", 1, "")
	if err != nil || bPage.NextBatch == "" {
		t.Fatalf("B's first page: %+v, %v", bPage, err)
	}
	bToken := bPage.NextBatch
	q := url.QueryEscape
	for name, tc := range map[string]struct {
		method, path string
		body         any
		status       int
		errcode      string
	}{
		"alias missing":           {"GET", "/_matrix/federation/v1/query/directory", nil, 400, "M_MISSING_PARAM"},
		"alias without sigil":     {"GET", "/_matrix/federation/v1/query/directory?room_alias=" + q("lobby:hs-a.test"), nil, 400, "M_INVALID_PARAM"},
		"alias without server":    {"GET", "/_matrix/federation/v1/query/directory?room_alias=" + q("#lobby"), nil, 400, "M_INVALID_PARAM"},
		"alias empty":             {"GET", "/_matrix/federation/v1/query/directory?room_alias=", nil, 400, "M_INVALID_PARAM"},
		"alias with a room sigil": {"GET", "/_matrix/federation/v1/query/directory?room_alias=" + q(roomID), nil, 400, "M_INVALID_PARAM"},
		"alias with a bad server": {"GET", "/_matrix/federation/v1/query/directory?room_alias=" + q("#lobby:bad_server!"), nil, 400, "M_INVALID_PARAM"},
		"alias of another server": {"GET", "/_matrix/federation/v1/query/directory?room_alias=" + q("#lobby:hs-b.test"), nil, 400, "M_UNKNOWN"},
		"alias unknown":           {"GET", "/_matrix/federation/v1/query/directory?room_alias=" + q("#nope:hs-a.test"), nil, 404, "M_NOT_FOUND"},
		"since garbage":           {"GET", "/_matrix/federation/v1/publicRooms?since=garbage", nil, 400, "M_INVALID_PARAM"},
		"since issued by B":       {"GET", "/_matrix/federation/v1/publicRooms?since=" + q(bToken), nil, 400, "M_INVALID_PARAM"},
		"since garbage (POST)":    {"POST", "/_matrix/federation/v1/publicRooms", map[string]any{"since": "g6FtAaFy"}, 400, "M_INVALID_PARAM"},
		"limit not a number":      {"GET", "/_matrix/federation/v1/publicRooms?limit=ten", nil, 400, "M_INVALID_PARAM"},
		"limit negative":          {"GET", "/_matrix/federation/v1/publicRooms?limit=-1", nil, 400, "M_INVALID_PARAM"},
		"limit negative (POST)":   {"POST", "/_matrix/federation/v1/publicRooms", map[string]any{"limit": -5}, 400, "M_INVALID_PARAM"},
		"limit a string (POST)":   {"POST", "/_matrix/federation/v1/publicRooms", map[string]any{"limit": "10"}, 400, "M_BAD_JSON"},
		"filter not an object":    {"POST", "/_matrix/federation/v1/publicRooms", map[string]any{"filter": "cats"}, 400, "M_BAD_JSON"},
		"body missing (POST)":     {"POST", "/_matrix/federation/v1/publicRooms", nil, 400, "M_NOT_JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			code, body := craft(t, signerOf(b), a, "hs-a.test", tc.method, tc.path, tc.body, nil)
			if code != tc.status || body["errcode"] != tc.errcode {
				t.Fatalf("%s %s: %d %v, want %d %s", tc.method, tc.path, code, body, tc.status, tc.errcode)
			}
		})
	}
	// And the good requests answer, with the spec's required fields.
	code, body := craft(t, signerOf(b), a, "hs-a.test", "GET", "/_matrix/federation/v1/publicRooms?limit=5", nil, nil)
	chunk, _ := body["chunk"].([]any)
	if code != 200 || len(chunk) != 1 || body["total_room_count_estimate"] != float64(1) {
		t.Fatalf("GET publicRooms: %d %v", code, body)
	}
	entry, _ := chunk[0].(map[string]any)
	for _, k := range []string{"room_id", "num_joined_members", "world_readable", "guest_can_join"} {
		if _, ok := entry[k]; !ok {
			t.Errorf("publicRooms entry has no %s: %v", k, entry)
		}
	}
	code, body = craft(t, signerOf(b), a, "hs-a.test", "POST", "/_matrix/federation/v1/publicRooms",
		map[string]any{"limit": 5, "filter": map[string]any{"generic_search_term": "no such room"}}, nil)
	if chunk, ok := body["chunk"].([]any); code != 200 || !ok || len(chunk) != 0 {
		t.Fatalf("POST publicRooms with a search matching nothing: %d %v", code, body)
	}
}
