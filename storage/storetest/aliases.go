package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/embedmatrix/homeserver/storage"
)

func testAliases(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	if _, err := s.Alias(c, "#none:t"); err == nil {
		t.Fatal("Alias of a missing alias: no error")
	} else {
		mustNotFound(t, "Alias of a missing alias", err)
	}
	a := storage.Alias{Alias: "#b:t", RoomID: "!r:t", Servers: []string{"t", "u.example:8448"}, Creator: "@a:t", CreatedTS: 7}
	mustOK(t, "PutAlias", s.PutAlias(c, a))
	mustOK(t, "PutAlias second", s.PutAlias(c, storage.Alias{Alias: "#a:t", RoomID: "!r:t", Creator: "@a:t", CreatedTS: 8}))
	mustOK(t, "PutAlias other room", s.PutAlias(c, storage.Alias{Alias: "#c:t", RoomID: "!other:t", Servers: []string{"t"}}))

	got, err := s.Alias(c, "#b:t")
	mustOK(t, "Alias", err)
	if got.Alias != a.Alias || got.RoomID != a.RoomID || got.Creator != a.Creator || got.CreatedTS != a.CreatedTS {
		t.Fatalf("Alias: got %+v, want %+v", got, a)
	}
	eqStrings(t, "Alias servers", got.Servers, a.Servers)

	for name, dup := range map[string]storage.Alias{
		"same room":  {Alias: "#b:t", RoomID: "!r:t", Servers: []string{"x"}, Creator: "@z:t"},
		"other room": {Alias: "#b:t", RoomID: "!other:t", Creator: "@z:t"},
	} {
		err := s.PutAlias(c, dup)
		if !errors.Is(err, storage.ErrExists) {
			t.Fatalf("PutAlias of a taken alias (%s): got %v, want ErrExists", name, err)
		}
	}
	got, err = s.Alias(c, "#b:t")
	mustOK(t, "Alias after a refused PutAlias", err)
	if got.RoomID != "!r:t" || got.Creator != "@a:t" {
		t.Fatalf("a refused PutAlias changed the alias: %+v", got)
	}

	list, err := s.RoomAliases(c, "!r:t")
	mustOK(t, "RoomAliases", err)
	names := make([]string, len(list))
	for i, x := range list {
		names[i] = x.Alias
	}
	eqStrings(t, "RoomAliases", names, []string{"#a:t", "#b:t"})
	if len(list[0].Servers) != 0 || len(list[1].Servers) != 2 {
		t.Fatalf("RoomAliases servers: %+v", list)
	}
	if none, err := s.RoomAliases(c, "!nothing:t"); err != nil || len(none) != 0 {
		t.Fatalf("RoomAliases of a room without any: %v, %v", none, err)
	}

	mustOK(t, "DeleteAlias", s.DeleteAlias(c, "#b:t"))
	_, err = s.Alias(c, "#b:t")
	mustNotFound(t, "Alias after DeleteAlias", err)
	mustNotFound(t, "DeleteAlias of a missing alias", s.DeleteAlias(c, "#b:t"))
	mustOK(t, "PutAlias after DeleteAlias (for another room)",
		s.PutAlias(c, storage.Alias{Alias: "#b:t", RoomID: "!other:t"}))
	list, err = s.RoomAliases(c, "!other:t")
	mustOK(t, "RoomAliases after moving an alias", err)
	if len(list) != 2 || list[0].Alias != "#b:t" || list[1].Alias != "#c:t" {
		t.Fatalf("RoomAliases after moving an alias: %+v", list)
	}
}

func testPublished(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	got, err := s.PublishedRooms(c)
	mustOK(t, "PublishedRooms of an empty store", err)
	eqStrings(t, "PublishedRooms of an empty store", got, nil)

	mustOK(t, "SetPublished", s.SetPublished(c, "!b:t", true))
	mustOK(t, "SetPublished", s.SetPublished(c, "!a:t", true))
	mustOK(t, "SetPublished twice", s.SetPublished(c, "!a:t", true))
	mustOK(t, "SetPublished of a room never published", s.SetPublished(c, "!c:t", false))
	got, err = s.PublishedRooms(c)
	mustOK(t, "PublishedRooms", err)
	eqStrings(t, "PublishedRooms", got, []string{"!a:t", "!b:t"})

	mustOK(t, "SetPublished false", s.SetPublished(c, "!a:t", false))
	mustOK(t, "SetPublished false twice", s.SetPublished(c, "!a:t", false))
	got, err = s.PublishedRooms(c)
	mustOK(t, "PublishedRooms after unpublishing", err)
	eqStrings(t, "PublishedRooms after unpublishing", got, []string{"!b:t"})
}

// CheckUpgradedToAliases checks a store just upgraded from the schema
// before aliases and the room directory, holding the rows every backend's
// upgrade test writes: room !r:t with event $m ({"m":1}). The old rows
// come back whole, and aliases and the directory work.
func CheckUpgradedToAliases(t *testing.T, s storage.Store) {
	t.Helper()
	c := context.Background()
	if e, err := s.Event(c, "$m"); err != nil || string(e.JSON) != `{"m":1}` {
		t.Fatalf("Event $m after the upgrade: %+v, %v", e, err)
	}
	if r, err := s.Room(c, "!r:t"); err != nil || r.Version != "10" {
		t.Fatalf("Room after the upgrade: %+v, %v", r, err)
	}
	if err := s.PutAlias(c, storage.Alias{Alias: "#a:t", RoomID: "!r:t", Servers: []string{"t"}}); err != nil {
		t.Fatalf("PutAlias after the upgrade: %v", err)
	}
	if a, err := s.Alias(c, "#a:t"); err != nil || a.RoomID != "!r:t" || len(a.Servers) != 1 {
		t.Fatalf("Alias after the upgrade: %+v, %v", a, err)
	}
	if err := s.SetPublished(c, "!r:t", true); err != nil {
		t.Fatalf("SetPublished after the upgrade: %v", err)
	}
	if ids, err := s.PublishedRooms(c); err != nil || len(ids) != 1 || ids[0] != "!r:t" {
		t.Fatalf("PublishedRooms after the upgrade: %v, %v", ids, err)
	}
}
