package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// Shapes of issue 13's additions.
type (
	profileJSON struct {
		UserID      string `json:"user_id"`
		DisplayName string `json:"displayname"`
		AvatarURL   string `json:"avatar_url"`
	}
	memberProfileJSON struct {
		UserID      string `json:"user_id"`
		Membership  string `json:"membership"`
		DisplayName string `json:"displayname"`
		AvatarURL   string `json:"avatar_url"`
		Presence    string `json:"presence"`
		StatusMsg   string `json:"status_msg"`
	}
	roomKnocksJSON struct {
		Members []memberProfileJSON `json:"members"`
		Knocks  []struct {
			UserID string `json:"user_id"`
			Reason string `json:"reason"`
			TS     int64  `json:"ts"`
		} `json:"knocks"`
	}
	senderJSON struct {
		EventID     string `json:"event_id"`
		Sender      string `json:"sender"`
		DisplayName string `json:"displayname"`
		AvatarURL   string `json:"avatar_url"`
	}
	directoryJSON struct {
		RoomID   string `json:"room_id"`
		Name     string `json:"name"`
		Topic    string `json:"topic"`
		Alias    string `json:"alias"`
		Members  int    `json:"members"`
		JoinRule string `json:"join_rule"`
	}
)

func (n *node) roomExtras(user, roomID string) roomKnocksJSON {
	n.t.Helper()
	var out roomKnocksJSON
	n.must(http.StatusOK, "GET", roomPath(roomID, ""), user, nil, &out)
	return out
}

func (r roomKnocksJSON) member(userID string) memberProfileJSON {
	for _, m := range r.Members {
		if m.UserID == userID {
			return m
		}
	}
	return memberProfileJSON{}
}

// PUT /api/profile: bob's display name and avatar reach alice's server,
// in the member list, on his messages and through GET /api/profile.
func TestProfileAndPresence(t *testing.T) {
	a, b := pair(t)
	roomID := sharedChannel(t, a, b)
	bob := b.id("bob")
	avatar := "mxc://" + b.name() + "/bobface"
	b.must(http.StatusOK, "PUT", "/api/profile", "bob", map[string]string{"displayname": "Bob the Builder", "avatar_url": avatar}, nil)
	// A field left out keeps its value.
	b.must(http.StatusOK, "PUT", "/api/profile", "bob", map[string]string{"displayname": "Bob B."}, nil)
	var own profileJSON
	b.must(http.StatusOK, "GET", "/api/profile/"+url.PathEscape(bob), "", nil, &own)
	if own != (profileJSON{bob, "Bob B.", avatar}) {
		t.Fatalf("bob's own profile: %+v", own)
	}
	eventually(t, "alice's server shows bob's name and avatar in the member list", func() error {
		m := a.roomExtras("alice", roomID).member(bob)
		if m.DisplayName != "Bob B." || m.AvatarURL != avatar {
			return fmt.Errorf("got %+v", m)
		}
		return nil
	})
	var remote profileJSON
	a.must(http.StatusOK, "GET", "/api/profile/"+url.PathEscape(bob), "alice", nil, &remote)
	if remote.DisplayName != "Bob B." || remote.AvatarURL != avatar {
		t.Fatalf("bob's profile on A: %+v", remote)
	}

	msg := b.send("bob", roomID, "hi from a named bob")
	eventually(t, "alice's server names bob's message", func() error {
		var ms []senderJSON
		a.must(http.StatusOK, "GET", roomPath(roomID, "/messages"), "alice", nil, &ms)
		for _, m := range ms {
			if m.EventID == msg {
				if m.DisplayName != "Bob B." || m.AvatarURL != avatar {
					return fmt.Errorf("got %+v", m)
				}
				return nil
			}
		}
		return fmt.Errorf("not there yet")
	})

	b.must(http.StatusOK, "PUT", "/api/presence", "bob", map[string]string{"presence": "online", "status_msg": "building"}, nil)
	eventually(t, "alice's server shows bob online", func() error {
		m := a.roomExtras("alice", roomID).member(bob)
		if m.Presence != "online" || m.StatusMsg != "building" {
			return fmt.Errorf("got %+v", m)
		}
		return nil
	})
	if m := a.roomExtras("alice", roomID).member(a.id("carol")); m.Presence != "" && m.Presence != "offline" {
		t.Fatalf("carol never set a presence: %+v", m)
	}

	cases := map[string]struct {
		status       int
		errcode      string
		method, path string
		user         string
		body         any
	}{
		"avatar not mxc":        {400, "M_INVALID_PARAM", "PUT", "/api/profile", "bob", map[string]string{"avatar_url": "https://evil.example/x.png"}},
		"display name a number": {400, "M_BAD_JSON", "PUT", "/api/profile", "bob", `{"displayname": 7}`},
		"profile not JSON":      {400, "M_NOT_JSON", "PUT", "/api/profile", "bob", `{`},
		"profile no X-User":     {401, "M_MISSING_TOKEN", "PUT", "/api/profile", "", map[string]string{"displayname": "x"}},
		"unknown local user":    {404, "M_NOT_FOUND", "GET", "/api/profile/" + url.PathEscape(b.id("nobody")), "", nil},
		"not a user ID":         {400, "M_INVALID_PARAM", "GET", "/api/profile/bob", "", nil},
		"unknown remote user":   {404, "M_NOT_FOUND", "GET", "/api/profile/" + url.PathEscape(b.id("nobody")), "alice", nil},
		"presence missing":      {400, "M_MISSING_PARAM", "PUT", "/api/presence", "bob", map[string]string{}},
		"presence unknown":      {400, "M_INVALID_PARAM", "PUT", "/api/presence", "bob", map[string]string{"presence": "away"}},
		"profile wrong method":  {405, "M_UNRECOGNIZED", "POST", "/api/profile", "bob", nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			n := b
			if name == "unknown remote user" {
				n = a
			}
			n.refused(c.status, c.errcode, c.method, c.path, c.user, c.body)
		})
	}
}

// Bob publishes a room with an alias on B; alice finds it in B's
// directory from A and joins it by alias; /join in the command box works
// too.
func TestAliasDirectoryJoin(t *testing.T) {
	a, b := pair(t)
	roomID := b.create("bob", map[string]any{"kind": "channel", "name": "Builders", "topic": "We build", "public": true})
	alias := "#builders:" + b.name()
	b.must(http.StatusOK, "PUT", roomPath(roomID, "/alias"), "bob", map[string]string{"alias": alias}, nil)
	b.must(http.StatusOK, "PUT", roomPath(roomID, "/published"), "bob", map[string]bool{"published": true}, nil)
	hidden := b.create("bob", map[string]any{"kind": "channel", "name": "Hidden", "public": true})

	var dir []directoryJSON
	a.must(http.StatusOK, "GET", "/api/directory?server="+url.QueryEscape(b.name())+"&q=build", "alice", nil, &dir)
	want := directoryJSON{RoomID: roomID, Name: "Builders", Topic: "We build", Alias: alias, Members: 1, JoinRule: "public"}
	if len(dir) != 1 || dir[0] != want {
		t.Fatalf("B's directory from A: %+v, want [%+v]", dir, want)
	}
	a.must(http.StatusOK, "GET", "/api/directory?server="+url.QueryEscape(b.name())+"&q=nothing-like-it", "", nil, &dir)
	if len(dir) != 0 {
		t.Fatalf("search for nothing: %+v", dir)
	}
	b.must(http.StatusOK, "GET", "/api/directory", "", nil, &dir)
	if slices.ContainsFunc(dir, func(d directoryJSON) bool { return d.RoomID == hidden }) || len(dir) != 1 {
		t.Fatalf("B's own directory lists an unpublished room, or not the published one: %+v", dir)
	}

	var joined struct {
		RoomID string `json:"room_id"`
	}
	a.must(http.StatusOK, "POST", "/api/join", "alice", map[string]any{"room": alias}, &joined)
	if joined.RoomID != roomID {
		t.Fatalf("join %s: room_id %q, want %q", alias, joined.RoomID, roomID)
	}
	b.memberIs("bob", roomID, a.id("alice"), "join", "")
	if e, ok := a.entry("alice", roomID); !ok || e.Membership != "join" {
		t.Fatalf("alice's room list: %+v %v", e, ok)
	}
	a.must(http.StatusOK, "POST", "/api/command", "carol", map[string]string{"text": "/join " + alias}, &joined)
	if joined.RoomID != roomID {
		t.Fatalf("/join %s: room_id %q", alias, joined.RoomID)
	}
	b.memberIs("bob", roomID, a.id("carol"), "join", "")

	b.must(http.StatusOK, "PUT", roomPath(roomID, "/published"), "bob", map[string]bool{"published": false}, nil)
	b.must(http.StatusOK, "GET", "/api/directory", "", nil, &dir)
	if len(dir) != 0 {
		t.Fatalf("unpublished, still listed: %+v", dir)
	}

	cases := map[string]struct {
		n            *node
		status       int
		errcode      string
		method, path string
		user         string
		body         any
	}{
		"alias of another server":   {b, 400, "M_INVALID_PARAM", "PUT", roomPath(roomID, "/alias"), "bob", map[string]string{"alias": "#x:" + a.name()}},
		"alias with a bad grammar":  {b, 400, "M_INVALID_PARAM", "PUT", roomPath(roomID, "/alias"), "bob", map[string]string{"alias": "builders"}},
		"alias missing":             {b, 400, "M_MISSING_PARAM", "PUT", roomPath(roomID, "/alias"), "bob", map[string]string{}},
		"alias taken":               {b, 409, "M_ROOM_IN_USE", "PUT", roomPath(hidden, "/alias"), "bob", map[string]string{"alias": alias}},
		"alias by a non-member":     {b, 403, "M_FORBIDDEN", "PUT", roomPath(roomID, "/alias"), "dave", map[string]string{"alias": "#d:" + b.name()}},
		"publish by a plain member": {a, 403, "M_FORBIDDEN", "PUT", roomPath(roomID, "/published"), "alice", map[string]bool{"published": true}},
		"publish by a non-member":   {b, 403, "M_FORBIDDEN", "PUT", roomPath(roomID, "/published"), "dave", map[string]bool{"published": true}},
		"publish missing":           {b, 400, "M_MISSING_PARAM", "PUT", roomPath(roomID, "/published"), "bob", map[string]string{}},
		"publish not a bool":        {b, 400, "M_BAD_JSON", "PUT", roomPath(roomID, "/published"), "bob", `{"published":"yes"}`},
		"join unknown local alias":  {b, 404, "M_NOT_FOUND", "POST", "/api/join", "dave", map[string]string{"room": "#nope:" + b.name()}},
		"join unknown remote alias": {a, 404, "M_NOT_FOUND", "POST", "/api/join", "alice", map[string]string{"room": "#nope:" + b.name()}},
		"join bad alias":            {a, 400, "M_INVALID_PARAM", "POST", "/api/join", "alice", map[string]string{"room": "#no server"}},
		"join neither":              {a, 400, "M_INVALID_PARAM", "POST", "/api/join", "alice", map[string]string{"room": "builders"}},
		"join missing":              {a, 400, "M_MISSING_PARAM", "POST", "/api/join", "alice", map[string]string{}},
		"join bad via":              {a, 400, "M_INVALID_PARAM", "POST", "/api/join", "alice", map[string]any{"room": roomID, "via": []string{"a/b"}}},
		"/join without a room":      {a, 400, "M_INVALID_PARAM", "POST", "/api/command", "alice", map[string]string{"text": "/join"}},
		"directory bad server":      {a, 400, "M_INVALID_PARAM", "GET", "/api/directory?server=" + url.QueryEscape("x y"), "", nil},
		"directory wrong method":    {a, 405, "M_UNRECOGNIZED", "POST", "/api/directory", "alice", nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			c.n.refused(c.status, c.errcode, c.method, c.path, c.user, c.body)
		})
	}
}

// A room with join rule "knock": alice on A knocks by alias, bob on B
// sees the knock with its reason and accepts it; carol knocks and is
// refused.
func TestKnocking(t *testing.T) {
	a, b := pair(t)
	roomID := b.create("bob", map[string]any{"kind": "channel", "name": "Club", "join_rule": "knock"})
	alias := "#club:" + b.name()
	b.must(http.StatusOK, "PUT", roomPath(roomID, "/alias"), "bob", map[string]string{"alias": alias}, nil)
	alice, carol := a.id("alice"), a.id("carol")

	a.must(http.StatusOK, "POST", roomPath(alias, "/knock"), "alice", map[string]string{"reason": "let me in"}, nil)
	a.must(http.StatusOK, "POST", roomPath(roomID, "/knock"), "carol", map[string]any{"via": []string{b.name()}}, nil)
	eventually(t, "bob sees both knocks", func() error {
		ks := b.roomExtras("bob", roomID).Knocks
		if len(ks) != 2 || ks[0].UserID != alice || ks[0].Reason != "let me in" || ks[0].TS == 0 || ks[1].UserID != carol {
			return fmt.Errorf("got %+v", ks)
		}
		return nil
	})
	var mine []struct {
		RoomID string `json:"room_id"`
		State  string `json:"state"`
	}
	a.must(http.StatusOK, "GET", "/api/knocks", "alice", nil, &mine)
	if len(mine) != 1 || mine[0].RoomID != roomID || mine[0].State != "pending" {
		t.Fatalf("alice's knocks: %+v", mine)
	}

	b.refused(http.StatusForbidden, "M_FORBIDDEN", "POST", roomPath(roomID, "/knocks/"+url.PathEscape(alice)+"/accept"), "dave", nil)
	b.must(http.StatusOK, "POST", roomPath(roomID, "/knocks/"+url.PathEscape(alice)+"/accept"), "bob", nil, nil)
	b.must(http.StatusOK, "POST", roomPath(roomID, "/knocks/"+url.PathEscape(carol)+"/refuse"), "bob", map[string]string{"reason": "full"}, nil)
	eventually(t, "alice is invited after her knock", func() error {
		if e, ok := a.entry("alice", roomID); !ok || e.Membership != "invite" {
			return fmt.Errorf("got %+v %v", e, ok)
		}
		return nil
	})
	a.must(http.StatusOK, "POST", roomPath(roomID, "/accept"), "alice", nil, nil)
	b.memberIs("bob", roomID, alice, "join", "accepted")
	eventually(t, "carol's knock is refused", func() error {
		a.must(http.StatusOK, "GET", "/api/knocks", "carol", nil, &mine)
		if len(mine) != 1 || mine[0].State != "refused" {
			return fmt.Errorf("got %+v", mine)
		}
		return nil
	})
	if ks := b.roomExtras("bob", roomID).Knocks; len(ks) != 0 {
		t.Fatalf("knocks left: %+v", ks)
	}

	open := b.create("bob", map[string]any{"kind": "channel", "name": "Open", "public": true})
	cases := map[string]struct {
		n            *node
		status       int
		errcode      string
		method, path string
		user         string
		body         any
	}{
		"knock on a public room":    {a, 403, "M_FORBIDDEN", "POST", roomPath(open, "/knock"), "carol", map[string]any{"via": []string{b.name()}}},
		"accept without a knock":    {b, 404, "M_NOT_FOUND", "POST", roomPath(roomID, "/knocks/"+url.PathEscape(carol)+"/accept"), "bob", nil},
		"refuse without a knock":    {b, 404, "M_NOT_FOUND", "POST", roomPath(roomID, "/knocks/"+url.PathEscape(a.id("nobody"))+"/refuse"), "bob", nil},
		"accept a bad user":         {b, 400, "M_INVALID_PARAM", "POST", roomPath(roomID, "/knocks/carol/accept"), "bob", nil},
		"knock on an unknown alias": {a, 404, "M_NOT_FOUND", "POST", roomPath("#nope:"+b.name(), "/knock"), "carol", nil},
		"knock on nonsense":         {a, 400, "M_INVALID_PARAM", "POST", roomPath("club", "/knock"), "carol", nil},
		"knock bad via":             {a, 400, "M_INVALID_PARAM", "POST", roomPath(roomID, "/knock"), "carol", map[string]any{"via": []string{""}}},
		"bad join rule":             {b, 400, "M_INVALID_PARAM", "POST", "/api/rooms", "bob", map[string]any{"join_rule": "restricted"}},
		"knock rule for a dm":       {b, 400, "M_INVALID_PARAM", "POST", "/api/rooms", "bob", map[string]any{"kind": "dm", "join_rule": "knock", "invite": []string{alice}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			c.n.refused(c.status, c.errcode, c.method, c.path, c.user, c.body)
		})
	}

	// A knock while banned is refused (A is in the room now: once it has
	// the ban, it refuses the knock itself).
	b.must(http.StatusOK, "POST", roomPath(roomID, "/ban"), "bob", map[string]string{"user": carol, "reason": "no"}, nil)
	eventually(t, "A has the ban", func() error {
		if m, _ := a.room("alice", roomID).member(carol); m.Membership != "ban" {
			return fmt.Errorf("got %+v", m)
		}
		return nil
	})
	a.refused(http.StatusForbidden, "M_FORBIDDEN", "POST", roomPath(roomID, "/knock"), "carol", map[string]any{"via": []string{b.name()}})
}
