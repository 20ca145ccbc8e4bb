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
