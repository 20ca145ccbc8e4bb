package homeserver

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/embedmatrix/homeserver/content"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// canonicalAlias reads a room's current m.room.canonical_alias: its
// content as a map, its sender and its event ID.
func canonicalAlias(t *testing.T, p *peer, roomID string) (map[string]any, string, string) {
	t.Helper()
	ev, err := p.srv.store.StateEvent(context.Background(), roomID, spec.MRoomCanonicalAlias, "")
	if err != nil {
		t.Fatalf("canonical alias of %s: %v", roomID, err)
	}
	var m map[string]any
	if err := json.Unmarshal(content.Of(ev.JSON), &m); err != nil {
		t.Fatal(err)
	}
	return m, ev.Sender, ev.EventID
}

// TestRemoveAliasAs: removing an alias the canonical alias names sends a
// new canonical alias without it, as the sender; an alias it does not
// name changes nothing else; a sender without the power changes nothing.
// https://spec.matrix.org/v1.16/client-server-api/#mroomcanonical_alias
func TestRemoveAliasAs(t *testing.T) {
	a := newPeer(t, newNetwork(), "hs-a.test")
	ctx := context.Background()
	roomID, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Public: true, Name: "Lobby"})
	if err != nil {
		t.Fatal(err)
	}
	const main, alt, other = "#main:hs-a.test", "#alt:hs-a.test", "#other:hs-a.test"
	for _, al := range []string{main, alt, other} {
		if err := a.srv.SetAlias(ctx, roomID, "alice", al); err != nil {
			t.Fatalf("SetAlias %s: %v", al, err)
		}
	}
	sendState(t, a, roomID, "alice", spec.MRoomCanonicalAlias, "", map[string]any{"alias": main, "alt_aliases": []string{alt}, "x.kept": true})
	if _, err := a.srv.Join(ctx, roomID, "carol", nil); err != nil {
		t.Fatalf("carol joins: %v", err)
	}
	resolves := func(al string) bool {
		t.Helper()
		_, _, err := a.srv.ResolveAlias(ctx, al)
		if err != nil && !errors.Is(err, ErrUnknownAlias) {
			t.Fatal(err)
		}
		return err == nil
	}

	// carol (power 0) may not change the canonical alias: nothing changes.
	_, _, before := canonicalAlias(t, a, roomID)
	if err := a.srv.RemoveAliasAs(ctx, alt, "carol"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("RemoveAliasAs by carol: %v, want ErrForbidden", err)
	}
	if _, _, id := canonicalAlias(t, a, roomID); id != before || !resolves(alt) {
		t.Fatalf("a refused RemoveAliasAs changed something")
	}
	// dave is not in the room.
	if err := a.srv.RemoveAliasAs(ctx, alt, "dave"); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("RemoveAliasAs by dave: %v, want ErrNotJoined", err)
	}

	steps := []struct {
		name   string
		alias  string
		sender string
		want   map[string]any // the canonical alias content after
		sent   bool           // a new canonical alias event was sent
	}{
		{"an alt alias", alt, "alice", map[string]any{"alias": main, "x.kept": true}, true},
		{"an alias the canonical alias does not name, by a user without power", other, "carol", map[string]any{"alias": main, "x.kept": true}, false},
		{"the canonical alias", main, "alice", map[string]any{"x.kept": true}, true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			_, _, before := canonicalAlias(t, a, roomID)
			if err := a.srv.RemoveAliasAs(ctx, st.alias, st.sender); err != nil {
				t.Fatalf("RemoveAliasAs: %v", err)
			}
			got, sender, id := canonicalAlias(t, a, roomID)
			if !reflect.DeepEqual(got, st.want) {
				t.Errorf("canonical alias = %v, want %v", got, st.want)
			}
			if (id != before) != st.sent {
				t.Errorf("new canonical alias event sent: %v, want %v", id != before, st.sent)
			}
			if st.sent && sender != a.userID(st.sender) {
				t.Errorf("canonical alias sent by %s, want %s", sender, a.userID(st.sender))
			}
			if resolves(st.alias) {
				t.Errorf("%s still resolves", st.alias)
			}
		})
	}

	refusals := map[string]struct {
		alias string
		want  error
	}{
		"already removed":  {main, ErrUnknownAlias},
		"never set":        {"#never:hs-a.test", ErrUnknownAlias},
		"another server's": {"#main:hs-b.test", ErrInvalidAlias},
		"bad grammar":      {"main", ErrInvalidAlias},
	}
	for name, tc := range refusals {
		t.Run(name, func(t *testing.T) {
			if err := a.srv.RemoveAliasAs(ctx, tc.alias, "alice"); !errors.Is(err, tc.want) {
				t.Errorf("RemoveAliasAs(%q): %v, want %v", tc.alias, err, tc.want)
			}
		})
	}
}

// TestRemoveAliasLeavesCanonicalAlias: the compatible RemoveAlias deletes
// the alias and leaves the canonical alias naming it.
func TestRemoveAliasLeavesCanonicalAlias(t *testing.T) {
	a := newPeer(t, newNetwork(), "hs-a.test")
	ctx := context.Background()
	roomID, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	const main = "#main:hs-a.test"
	if err := a.srv.SetAlias(ctx, roomID, "alice", main); err != nil {
		t.Fatal(err)
	}
	_, _, before := canonicalAlias(t, a, roomID)
	if err := a.srv.RemoveAlias(ctx, main); err != nil {
		t.Fatal(err)
	}
	if got, _, id := canonicalAlias(t, a, roomID); id != before || got["alias"] != main {
		t.Errorf("RemoveAlias changed the canonical alias: %v", got)
	}
	if _, _, err := a.srv.ResolveAlias(ctx, main); !errors.Is(err, ErrUnknownAlias) {
		t.Errorf("removed alias resolves: %v", err)
	}
}
