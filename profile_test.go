package homeserver

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/content"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// waitProfileChange takes the next "profile" membership change of userID.
func waitProfileChange(t *testing.T, ch <-chan Membership, userID string) Membership {
	t.Helper()
	return expect(t, userID+"'s profile change", ch, func(m Membership) bool {
		return m.UserID == userID && m.Change == "profile"
	})
}

// memberContentOf returns the content of userID's current member event
// in a room as p holds it.
func memberContentOf(t *testing.T, p *peer, roomID, userID string) content.Member {
	t.Helper()
	ev, err := p.srv.store.StateEvent(context.Background(), roomID, spec.MRoomMember, userID)
	if err != nil {
		t.Fatalf("%s's member event in %s on %s: %v", userID, roomID, p.name, err)
	}
	return content.MemberOf(ev.JSON)
}

func TestProfileNamesInHooksAndMessages(t *testing.T) {
	a, b := twoPeers(t)
	roomID := sharedRoom(t, a, b, "10")
	ctx := context.Background()
	bob := b.userID("bob")

	if err := b.srv.SetProfile(ctx, "bob", "Bob Builder", "mxc://hs-b.test/bobface"); err != nil {
		t.Fatal(err)
	}
	m := waitProfileChange(t, a.memberships, bob)
	if m.DisplayName != "Bob Builder" || m.AvatarURL != "mxc://hs-b.test/bobface" || m.Membership != "join" ||
		!slices.Equal(m.Changed, []string{"displayname", "avatar_url"}) {
		t.Fatalf("profile change as A's host sees it: %+v", m)
	}

	id, err := b.srv.SendMessage(ctx, roomID, "bob", "hello from bob")
	if err != nil {
		t.Fatal(err)
	}
	if got := waitMessage(t, a.messages, "hello from bob"); got.SenderName != "Bob Builder" || got.Sender != bob {
		t.Fatalf("OnMessage: sender %q, name %q; want %s, Bob Builder", got.Sender, got.SenderName, bob)
	}
	msgs, err := a.srv.Messages(ctx, roomID, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(msgs, func(m Message) bool { return m.EventID == id })
	if i < 0 || msgs[i].SenderName != "Bob Builder" {
		t.Fatalf("Messages on A: %+v", msgs)
	}
	if one, err := a.srv.Message(ctx, roomID, id); err != nil || one.SenderName != "Bob Builder" {
		t.Fatalf("Message on A: %+v, %v", one, err)
	}

	// Only the avatar changes: only it is reported.
	if err := b.srv.SetProfile(ctx, "bob", "Bob Builder", "mxc://hs-b.test/newface"); err != nil {
		t.Fatal(err)
	}
	m = waitProfileChange(t, a.memberships, bob)
	if !slices.Equal(m.Changed, []string{"avatar_url"}) || m.AvatarURL != "mxc://hs-b.test/newface" {
		t.Fatalf("avatar change: %+v", m)
	}

	// A's Profile of bob comes from his member event.
	p, err := a.srv.Profile(ctx, bob)
	if err != nil || p != (Profile{UserID: bob, DisplayName: "Bob Builder", AvatarURL: "mxc://hs-b.test/newface"}) {
		t.Fatalf("Profile of bob on A: %+v, %v", p, err)
	}
	// The room summary's member shows the name and avatar of the room.
	sum, err := a.srv.Room(ctx, roomID)
	if err != nil {
		t.Fatal(err)
	}
	if j := slices.IndexFunc(sum.Members, func(m Member) bool { return m.UserID == bob }); j < 0 ||
		sum.Members[j].DisplayName != "Bob Builder" || sum.Members[j].AvatarURL != "mxc://hs-b.test/newface" {
		t.Fatalf("members in the summary: %+v", sum.Members)
	}
	// Setting the same profile again sends nothing.
	if err := b.srv.SetProfile(ctx, "bob", "Bob Builder", "mxc://hs-b.test/newface"); err != nil {
		t.Fatal(err)
	}
	nothingOn(t, "a profile change that changes nothing", a.memberships, 300*time.Millisecond)
}

func TestJoinsAndInvitesCarryTheProfile(t *testing.T) {
	a, b := twoPeers(t)
	ctx := context.Background()
	alice, bob, carol := a.userID("alice"), b.userID("bob"), a.userID("carol")
	for _, p := range []struct {
		peer        *peer
		user, name  string
		avatarMedia string
	}{{a, "alice", "Alice", "a1"}, {a, "carol", "Carol", "c1"}, {b, "bob", "Bob", "b1"}} {
		if err := p.peer.srv.SetProfile(ctx, p.user, p.name, "mxc://"+p.peer.name+"/"+p.avatarMedia); err != nil {
			t.Fatal(err)
		}
	}
	roomID, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Name: "Named"})
	if err != nil {
		t.Fatal(err)
	}
	if m := memberContentOf(t, a, roomID, alice); m.DisplayName != "Alice" || m.AvatarURL != "mxc://hs-a.test/a1" {
		t.Fatalf("the creator's join: %+v", m)
	}
	// An invite carries the invitee's profile (as Synapse fills it in).
	if err := a.srv.Invite(ctx, roomID, "alice", carol); err != nil {
		t.Fatal(err)
	}
	if m := memberContentOf(t, a, roomID, carol); m.Membership != "invite" || m.DisplayName != "Carol" {
		t.Fatalf("the invite of a local user: %+v", m)
	}
	// A remote invitee A knows nothing of: no profile, and no wait.
	if err := a.srv.Invite(ctx, roomID, "alice", bob); err != nil {
		t.Fatal(err)
	}
	if m := memberContentOf(t, a, roomID, bob); m.Membership != "invite" || m.DisplayName != "" {
		t.Fatalf("the invite of an unknown remote user: %+v", m)
	}
	waitInvite(t, b.invites, roomID)
	// A remote join (make_join / send_join) carries the joiner's profile.
	if err := b.srv.AcceptInvite(ctx, roomID, "bob"); err != nil {
		t.Fatal(err)
	}
	waitMembership(t, a.memberships, bob, "join")
	if m := memberContentOf(t, a, roomID, bob); m.DisplayName != "Bob" || m.AvatarURL != "mxc://hs-b.test/b1" {
		t.Fatalf("bob's join as A holds it: %+v", m)
	}
	// B sees alice's name on her messages.
	if _, err := a.srv.SendMessage(ctx, roomID, "alice", "hi bob"); err != nil {
		t.Fatal(err)
	}
	if got := waitMessage(t, b.messages, "hi bob"); got.SenderName != "Alice" {
		t.Fatalf("alice's message on B: %+v", got)
	}
}

// A local join of a room this server is already in (by ID or by one of
// our aliases) carries the joiner's profile like every other join of
// ours; it used to carry only the membership.
func TestLocalJoinCarriesTheProfile(t *testing.T) {
	a, _ := twoPeers(t)
	ctx := context.Background()
	roomID, err := a.srv.CreateRoom(ctx, CreateRoomRequest{Creator: "alice", Name: "Open", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	alias := "#open:" + a.name
	if err := a.srv.SetAlias(ctx, roomID, "alice", alias); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ user, room string }{
		"by room ID": {"carol", roomID},
		"by alias":   {"dave", alias},
	} {
		t.Run(name, func(t *testing.T) {
			avatar := "mxc://" + a.name + "/" + tc.user
			if err := a.srv.SetProfile(ctx, tc.user, "Name of "+tc.user, avatar); err != nil {
				t.Fatal(err)
			}
			if _, err := a.srv.Join(ctx, tc.room, tc.user, nil); err != nil {
				t.Fatal(err)
			}
			m := memberContentOf(t, a, roomID, a.userID(tc.user))
			if m.Membership != "join" || m.DisplayName != "Name of "+tc.user || m.AvatarURL != avatar {
				t.Fatalf("the local join of %s: %+v; want displayname and avatar_url", tc.user, m)
			}
		})
	}
}

func TestRemoteProfileByQueryAndTTL(t *testing.T) {
	a, b := twoPeers(t, withConfig(func(c *Config) {
		c.UserExists = func(_ context.Context, local string) (bool, error) { return local != "ghost", nil }
	}))
	ctx := context.Background()
	dave := b.userID("dave")
	var clock atomic.Int64
	clock.Store(time.Now().UnixMilli())
	a.srv.prof.now = func() time.Time { return time.UnixMilli(clock.Load()) }

	if err := b.srv.SetProfile(ctx, "dave", "Dave", "mxc://hs-b.test/d1"); err != nil {
		t.Fatal(err)
	}
	// Dave shares no room with A: A asks B.
	want := Profile{UserID: dave, DisplayName: "Dave", AvatarURL: "mxc://hs-b.test/d1"}
	if p, err := a.srv.Profile(ctx, dave); err != nil || p != want {
		t.Fatalf("Profile of dave: %+v, %v; want %+v", p, err, want)
	}
	if err := b.srv.SetProfile(ctx, "dave", "David", ""); err != nil {
		t.Fatal(err)
	}
	// Within the TTL the cached answer is used.
	clock.Add((defaultProfileTTL - time.Minute).Milliseconds())
	if p, err := a.srv.Profile(ctx, dave); err != nil || p != want {
		t.Fatalf("Profile of dave within the TTL: %+v, %v; want the cached %+v", p, err, want)
	}
	// Past it, B is asked again.
	clock.Add((2 * time.Minute).Milliseconds())
	want = Profile{UserID: dave, DisplayName: "David"}
	if p, err := a.srv.Profile(ctx, dave); err != nil || p != want {
		t.Fatalf("Profile of dave past the TTL: %+v, %v; want %+v", p, err, want)
	}
	// Past it again with B down, the stale profile is still given.
	b.stop()
	clock.Add((2 * defaultProfileTTL).Milliseconds())
	if p, err := a.srv.Profile(ctx, dave); err != nil || p != want {
		t.Fatalf("Profile of dave with B down: %+v, %v; want the stale %+v", p, err, want)
	}
	b.start()

	// A user B does not know: B's 404 comes back as a RemoteError.
	_, err := a.srv.Profile(ctx, b.userID("ghost"))
	var re *RemoteError
	if !errors.As(err, &re) || re.Status != 404 || re.ErrCode != "M_NOT_FOUND" {
		t.Fatalf("Profile of an unknown remote user: %v, want a 404 M_NOT_FOUND RemoteError", err)
	}
	// A local user with no profile has an empty one.
	if p, err := a.srv.Profile(ctx, "erin"); err != nil || p != (Profile{UserID: a.userID("erin")}) {
		t.Fatalf("Profile of a local user with none: %+v, %v", p, err)
	}
}

func TestSetProfileRefusesBadInput(t *testing.T) {
	a, _ := twoPeers(t)
	tests := map[string]struct {
		user, name, avatar string
		want               error
	}{
		"http avatar":             {"alice", "A", "https://example.com/a.png", ErrInvalidContent},
		"mxc without media id":    {"alice", "A", "mxc://hs-a.test/", ErrInvalidContent},
		"mxc with a bad media id": {"alice", "A", "mxc://hs-a.test/a/b", ErrInvalidContent},
		"mxc with a bad server":   {"alice", "A", "mxc://bad server/abc", ErrInvalidContent},
		"name not UTF-8":          {"alice", "\xff\xfe", "", ErrInvalidContent},
		"name too long":           {"alice", string(make([]byte, maxDisplayNameBytes+1)), "", ErrInvalidContent},
		"another server's user":   {"@bob:hs-b.test", "B", "", ErrInvalidUserID},
		"clearing both":           {"alice", "", "", nil},
		"a good mxc":              {"alice", "Alice", "mxc://hs-a.test/AbC_-9", nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := a.srv.SetProfile(context.Background(), tc.user, tc.name, tc.avatar)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("SetProfile(%q, %q, %q): %v, want %v", tc.user, tc.name, tc.avatar, err, tc.want)
			}
		})
	}
}

func TestQueryProfileOverTheWire(t *testing.T) {
	a, b := twoPeers(t, withConfig(func(c *Config) {
		c.UserExists = func(_ context.Context, local string) (bool, error) { return local != "ghost", nil }
	}))
	if err := b.srv.SetProfile(context.Background(), "bob", "Bob", "mxc://hs-b.test/b1"); err != nil {
		t.Fatal(err)
	}
	q := func(v url.Values) string { return "/_matrix/federation/v1/query/profile?" + v.Encode() }
	bob := b.userID("bob")
	tests := map[string]struct {
		path    string
		status  int
		errcode string
		body    map[string]any
	}{
		"whole profile":          {path: q(url.Values{"user_id": {bob}}), status: 200, body: map[string]any{"displayname": "Bob", "avatar_url": "mxc://hs-b.test/b1"}},
		"displayname only":       {path: q(url.Values{"user_id": {bob}, "field": {"displayname"}}), status: 200, body: map[string]any{"displayname": "Bob"}},
		"avatar_url only":        {path: q(url.Values{"user_id": {bob}, "field": {"avatar_url"}}), status: 200, body: map[string]any{"avatar_url": "mxc://hs-b.test/b1"}},
		"a user with no profile": {path: q(url.Values{"user_id": {b.userID("nobody")}}), status: 200, body: map[string]any{}},
		"another server's user":  {path: q(url.Values{"user_id": {a.userID("alice")}}), status: 400, errcode: "M_INVALID_PARAM"},
		"unknown field":          {path: q(url.Values{"user_id": {bob}, "field": {"email"}}), status: 400, errcode: "M_INVALID_PARAM"},
		"unknown local user":     {path: q(url.Values{"user_id": {b.userID("ghost")}}), status: 404, errcode: "M_NOT_FOUND"},
		"no user_id":             {path: q(url.Values{"field": {"displayname"}}), status: 400, errcode: "M_MISSING_PARAM"},
		"not a user ID":          {path: q(url.Values{"user_id": {"bob"}}), status: 400, errcode: "M_INVALID_PARAM"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, body := craft(t, signerOf(a), b, "hs-b.test", "GET", tc.path, nil, nil)
			if status != tc.status {
				t.Fatalf("status %d (%v), want %d", status, body, tc.status)
			}
			if tc.errcode != "" {
				if body["errcode"] != tc.errcode {
					t.Fatalf("errcode %v, want %s", body["errcode"], tc.errcode)
				}
				return
			}
			if len(body) != len(tc.body) {
				t.Fatalf("body %v, want %v", body, tc.body)
			}
			for k, v := range tc.body {
				if body[k] != v {
					t.Fatalf("body %v, want %v", body, tc.body)
				}
			}
		})
	}
	// The route takes GET only.
	if status, body := craft(t, signerOf(a), b, "hs-b.test", "POST", q(url.Values{"user_id": {bob}}), map[string]any{}, nil); status == 200 || status >= 500 {
		t.Fatalf("POST /query/profile: %d %v", status, body)
	}
}
