package storetest

import (
	"context"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

// testProfiles checks local profiles and the remote profile cache: each
// is one row per user, replaced whole, kept apart from the other, and a
// user with none is ErrNotFound.
func testProfiles(t *testing.T, open opener) {
	type store struct {
		set func(storage.Store, context.Context, storage.Profile) error
		get func(storage.Store, context.Context, string) (storage.Profile, error)
	}
	kinds := map[string]store{
		"local": {
			set: storage.Store.SetLocalProfile,
			get: storage.Store.LocalProfile,
		},
		"remote": {
			set: storage.Store.CacheRemoteProfile,
			get: storage.Store.RemoteProfile,
		},
	}
	for name, k := range kinds {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			c := ctx(t)
			_, err := k.get(s, c, "@a:x")
			mustNotFound(t, "profile never set", err)

			first := storage.Profile{UserID: "@a:x", DisplayName: "Alice", AvatarURL: "mxc://x/a", TS: 10}
			mustOK(t, "set", k.set(s, c, first))
			got, err := k.get(s, c, "@a:x")
			mustOK(t, "get", err)
			if got != first {
				t.Fatalf("get: %+v, want %+v", got, first)
			}

			// A new profile replaces every field, empty ones included.
			second := storage.Profile{UserID: "@a:x", DisplayName: "", AvatarURL: "mxc://x/b", TS: 5}
			mustOK(t, "replace", k.set(s, c, second))
			if got, err := k.get(s, c, "@a:x"); err != nil || got != second {
				t.Fatalf("get after replace: %+v, %v; want %+v", got, err, second)
			}

			// Bytes a hostile peer may send come back as they were.
			odd := storage.Profile{UserID: "@a:x", DisplayName: "A\x00\xff\\x41'%_é", AvatarURL: "mxc://x/\x00", TS: 6}
			mustOK(t, "set odd bytes", k.set(s, c, odd))
			if got, err := k.get(s, c, "@a:x"); err != nil || got != odd {
				t.Fatalf("get odd bytes: %#v, %v; want %#v", got, err, odd)
			}

			// Other users are untouched; the other kind sees nothing.
			_, err = k.get(s, c, "@b:x")
			mustNotFound(t, "another user", err)
			for other, o := range kinds {
				if other != name {
					_, err := o.get(s, c, "@a:x")
					mustNotFound(t, other+" profile of a user with a "+name+" one", err)
				}
			}
		})
	}
}

// CheckUpgradedToProfiles checks a store just upgraded from the schema
// before profiles, holding the rows every backend's upgrade test writes:
// room !r:t with event $m ({"m":1}). The old rows come back whole, no
// user has a profile, and profiles can be set and read.
func CheckUpgradedToProfiles(t *testing.T, s storage.Store) {
	t.Helper()
	c := context.Background()
	if e, err := s.Event(c, "$m"); err != nil || string(e.JSON) != `{"m":1}` || e.RoomID != "!r:t" {
		t.Fatalf("Event $m after the upgrade: %+v, %v", e, err)
	}
	_, err := s.LocalProfile(c, "@a:t")
	mustNotFound(t, "local profile after the upgrade", err)
	_, err = s.RemoteProfile(c, "@b:u")
	mustNotFound(t, "remote profile after the upgrade", err)
	local := storage.Profile{UserID: "@a:t", DisplayName: "A", TS: 1}
	remote := storage.Profile{UserID: "@b:u", AvatarURL: "mxc://u/b", TS: 2}
	mustOK(t, "SetLocalProfile after the upgrade", s.SetLocalProfile(c, local))
	mustOK(t, "CacheRemoteProfile after the upgrade", s.CacheRemoteProfile(c, remote))
	if got, err := s.LocalProfile(c, "@a:t"); err != nil || got != local {
		t.Fatalf("LocalProfile after the upgrade: %+v, %v", got, err)
	}
	if got, err := s.RemoteProfile(c, "@b:u"); err != nil || got != remote {
		t.Fatalf("RemoteProfile after the upgrade: %+v, %v", got, err)
	}
}
